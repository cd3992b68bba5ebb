-- The manager's workflow of issue 17: blockers recorded with a resolution and resolved, managers'
-- interventions, the manager, addressee and coaching every alert carries, the weekly review's
-- "blocker not identified", and the analytics over blockers, interventions and losses.
-- Conventions of 0003 (days numeric with 2 decimals, rates with 4, "today" the UTC date, stage order
-- of analytics_stage_position). Idempotent-safe: IF NOT EXISTS / CREATE OR REPLACE throughout.

-- ---------------------------------------------------------------------------------------------
-- Alerts: the team's manager, who should act, and the playbook's coaching ([T1], [M1]).
ALTER TABLE alerts
    ADD COLUMN IF NOT EXISTS manager      text,
    ADD COLUMN IF NOT EXISTS addressed_to text NOT NULL DEFAULT 'owner' CHECK (addressed_to IN ('owner', 'manager')),
    ADD COLUMN IF NOT EXISTS coaching     jsonb;
ALTER TABLE alert_changes
    ADD COLUMN IF NOT EXISTS manager      text,
    ADD COLUMN IF NOT EXISTS addressed_to text NOT NULL DEFAULT 'owner' CHECK (addressed_to IN ('owner', 'manager'));
CREATE INDEX IF NOT EXISTS alerts_manager_idx ON alerts (manager);
CREATE INDEX IF NOT EXISTS alert_changes_manager_idx ON alert_changes (manager, at);

-- ---------------------------------------------------------------------------------------------
-- Blockers (facts blocker.identified, blocker.resolved): one row per blocker of a deal. A resolution
-- projected before its identification (another batch) makes a resolved row that the identification
-- later completes; the row never goes back to open.
CREATE TABLE IF NOT EXISTS blockers (
    blocker_id        text NOT NULL,
    deal_id           text NOT NULL,
    code              text,
    stall_point       text,
    stage             text,
    description       text,
    identified_by     text,
    identified_at     timestamptz,
    resolution_owner  text,
    resolution_action text,
    due_date          date,
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolved_at       timestamptz,
    outcome           text,
    resolved_by       text,
    note              text,
    days_open         numeric,
    PRIMARY KEY (deal_id, blocker_id)
);
CREATE INDEX IF NOT EXISTS blockers_open_idx ON blockers (deal_id) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS blockers_code_idx ON blockers (code);

-- Interventions ([M3], fact intervention.recorded).
CREATE TABLE IF NOT EXISTS interventions (
    event_id    text PRIMARY KEY,
    deal_id     text NOT NULL,
    kind        text NOT NULL,
    stage       text,
    recorded_by text,
    note        text,
    at          timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS interventions_deal_idx ON interventions (deal_id, at);

-- ---------------------------------------------------------------------------------------------
-- (open_conditions and review_weekly keep the columns 0004 gave them, so 0003 and 0004 can run again;
-- the views below read the new alert columns from alerts itself.)

-- The manager of each deal: the manager its newest alert record carries (NULL: that record names none).
CREATE OR REPLACE VIEW deal_managers AS
SELECT DISTINCT ON (a.deal_id) a.deal_id, a.manager, a.team
FROM alerts a
ORDER BY a.deal_id, coalesce(a.updated_at, a.raised_at) DESC, a.revision DESC, a.alert_id DESC;
COMMENT ON VIEW deal_managers IS
    'Per deal with alerts: the manager and team of its newest alert record (what --manager filters by).';

-- The coaching of the open conditions ([M1]): what the queues and `dealflow deal` show.
CREATE OR REPLACE VIEW open_coaching AS
SELECT a.deal_id, a.alert_id, a.type, a.details->>'rule' AS rule, a.severity, a.addressed_to, a.manager,
       a.coaching->>'next_best_action' AS next_best_action,
       coalesce(a.coaching->'questions', '[]'::jsonb) AS questions
FROM alerts a
WHERE a.kind = 'condition' AND a.status <> 'resolved' AND a.coaching IS NOT NULL;
COMMENT ON VIEW open_coaching IS
    'The coaching ([M1]: next best action, questions) of every open condition alert that carries one, '
    'with who it is addressed to (owner or manager) and the manager.';

-- Open blockers per deal, each as a jsonb object (oldest due date first).
CREATE OR REPLACE VIEW open_blockers_by_deal AS
SELECT b.deal_id,
       count(*) AS open_blockers,
       jsonb_agg(jsonb_build_object(
           'blocker_id', b.blocker_id, 'code', b.code, 'stall_point', b.stall_point, 'stage', b.stage,
           'description', b.description, 'resolution_owner', b.resolution_owner,
           'resolution_action', b.resolution_action, 'due_date', b.due_date,
           'overdue', b.due_date < (now() AT TIME ZONE 'UTC')::date)
           ORDER BY b.due_date NULLS LAST, b.blocker_id) AS blockers
FROM blockers b
WHERE b.status = 'open'
GROUP BY b.deal_id;
COMMENT ON VIEW open_blockers_by_deal IS
    'Per deal with open blockers: how many, and each (code, stall point, resolution owner and action, due date, '
    'overdue: due date before UTC today) as a jsonb array, earliest due first.';

-- Stuck deals ([B1]-[B7]: every stuck deal's blocker identified): open deals with an open stall,
-- ghosting or inactivity condition; team of the newest of those conditions.
CREATE OR REPLACE VIEW stuck_deals AS
SELECT o.deal_id,
       (array_agg(o.team ORDER BY o.updated_at DESC, o.alert_id))[1]     AS team,
       (array_agg(o.manager ORDER BY o.updated_at DESC, o.alert_id))[1]  AS manager,
       array_agg(DISTINCT o.type ORDER BY o.type)                         AS stuck_alert_types
FROM alerts o
JOIN deals d ON d.deal_id = o.deal_id AND d.status = 'open'
WHERE o.kind = 'condition' AND o.status <> 'resolved'
  AND o.type IN ('deal.stalled', 'deal.ghosting', 'deal.inactive')
GROUP BY o.deal_id;
COMMENT ON VIEW stuck_deals IS
    'Open deals with an open deal.stalled, deal.ghosting or deal.inactive condition: the deals whose blocker '
    'should be identified; team and manager of the newest of those alerts.';

-- The weekly review's blockers: a stuck deal without an open blocker says "blocker not identified".
CREATE OR REPLACE VIEW review_weekly_blockers AS
SELECT w.deal_id,
       m.manager,
       s.deal_id IS NOT NULL                                               AS stuck,
       coalesce(s.stuck_alert_types, '{}')                                 AS stuck_alert_types,
       CASE
           WHEN b.deal_id IS NOT NULL                                      THEN 'identified'
           WHEN s.deal_id IS NOT NULL                                      THEN 'blocker not identified'
       END                                                                 AS blocker_status,
       coalesce(b.open_blockers, 0)                                        AS open_blockers,
       coalesce(b.blockers, '[]'::jsonb)                                   AS blockers
FROM review_weekly w
LEFT JOIN deal_managers m ON m.deal_id = w.deal_id
LEFT JOIN stuck_deals s ON s.deal_id = w.deal_id
LEFT JOIN open_blockers_by_deal b ON b.deal_id = w.deal_id
ORDER BY analytics_stage_position(w.stage) DESC, w.close_date NULLS FIRST, w.deal_id;
COMMENT ON VIEW review_weekly_blockers IS
    'Per deal of review_weekly: its manager (deal_managers), whether it is stuck (stuck_deals), blocker_status '
    '(identified / blocker not identified / NULL when not stuck and without blocker) and its open blockers.';

-- The quarterly sample among one manager's deals (deal_managers), drawn as review_quarterly_sample draws.
CREATE OR REPLACE FUNCTION review_quarterly_sample_for_manager(seed double precision, per_stage integer,
                                                               manager text)
RETURNS TABLE (deal_id text, stage text, status text, owner_id text, amount numeric, evidence jsonb)
LANGUAGE sql STABLE AS $$
    WITH ranked AS (
        SELECT d.deal_id, d.stage, d.status, d.owner_id, d.amount,
               row_number() OVER (PARTITION BY d.stage
                                  ORDER BY md5(review_quarterly_sample_for_manager.seed::text || d.deal_id),
                                           d.deal_id) AS draw
        FROM deals d JOIN deal_managers m ON m.deal_id = d.deal_id
        WHERE m.manager = review_quarterly_sample_for_manager.manager
    )
    SELECT r.deal_id, r.stage, r.status, r.owner_id, r.amount,
           coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'criterion', e.criterion, 'kind', e.kind, 'reference', e.reference,
                                'recorded_by', e.recorded_by,
                                'recorded_at', (to_jsonb(e.recorded_at AT TIME ZONE 'UTC') #>> '{}') || 'Z',
                                'valid', e.valid)
                            ORDER BY e.recorded_at, e.event_id)
                     FROM evidence e WHERE e.deal_id = r.deal_id), '[]'::jsonb) AS evidence
    FROM ranked r
    WHERE r.draw <= review_quarterly_sample_for_manager.per_stage
    ORDER BY analytics_stage_position(r.stage), r.stage, r.draw
$$;

-- ---------------------------------------------------------------------------------------------
-- Analytics ([T3] blocker analysis, [M3], [R2]).

CREATE OR REPLACE VIEW blockers_by_code AS
SELECT b.code,
       count(*)                                                                          AS blockers,
       count(*) FILTER (WHERE b.status = 'open')                                         AS open,
       count(*) FILTER (WHERE b.status = 'resolved')                                     AS resolved,
       count(*) FILTER (WHERE b.status = 'open' AND b.due_date < (now() AT TIME ZONE 'UTC')::date) AS overdue
FROM blockers b
GROUP BY b.code
ORDER BY count(*) DESC, b.code;
COMMENT ON VIEW blockers_by_code IS
    'Blockers per code ([B1]-[B7]): all, open, resolved, and open past their resolution due date (UTC today).';

CREATE OR REPLACE VIEW blockers_by_stall_point AS
SELECT b.code, b.stall_point,
       count(*)                                       AS blockers,
       count(*) FILTER (WHERE b.status = 'open')      AS open,
       count(*) FILTER (WHERE b.status = 'resolved')  AS resolved
FROM blockers b
GROUP BY b.code, b.stall_point
ORDER BY count(*) DESC, b.code, b.stall_point NULLS LAST;
COMMENT ON VIEW blockers_by_stall_point IS 'Blockers per code and stall point (NULL: none named): all, open, resolved.';

CREATE OR REPLACE VIEW blockers_by_stage AS
SELECT b.stage,
       count(*)                                       AS blockers,
       count(*) FILTER (WHERE b.status = 'open')      AS open,
       count(*) FILTER (WHERE b.status = 'resolved')  AS resolved
FROM blockers b
GROUP BY b.stage
ORDER BY analytics_stage_position(b.stage), b.stage;
COMMENT ON VIEW blockers_by_stage IS 'Blockers per stage the deal was in when identified: all, open, resolved.';

CREATE OR REPLACE VIEW blocker_resolution_time AS
SELECT b.code,
       count(*)                                                                AS resolved,
       round(avg(b.days_open), 2)                                              AS avg_days,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY b.days_open)::numeric, 2) AS median_days
FROM blockers b
WHERE b.status = 'resolved' AND b.days_open IS NOT NULL
GROUP BY GROUPING SETS ((b.code), ())
HAVING count(*) > 0
ORDER BY b.code NULLS LAST;
COMMENT ON VIEW blocker_resolution_time IS
    'Days from identification to resolution (blocker.resolved days_open) per code, and over all codes (code NULL, last).';

CREATE OR REPLACE VIEW blocker_coverage_by_team AS
SELECT s.team,
       count(*)                                          AS stuck_deals,
       count(b.deal_id)                                  AS with_blocker,
       count(*) - count(b.deal_id)                       AS without_blocker,
       round(count(b.deal_id)::numeric / count(*), 4)    AS share_with_blocker
FROM stuck_deals s
LEFT JOIN open_blockers_by_deal b ON b.deal_id = s.deal_id
GROUP BY s.team
ORDER BY s.team NULLS LAST;
COMMENT ON VIEW blocker_coverage_by_team IS
    'Per team (of the stuck condition alerts; NULL: no team): open deals stuck (open deal.stalled, deal.ghosting or '
    'deal.inactive), how many have an open blocker identified, and that share.';

CREATE OR REPLACE VIEW intervention_outcomes AS
SELECT i.event_id, i.deal_id, i.kind, i.stage, i.recorded_by, i.at,
       CASE n.kind
           WHEN 'advance'    THEN 'advanced'
           WHEN 'regress'    THEN 'regressed'
           WHEN 'nurture'    THEN 'regressed'
           WHEN 'won'        THEN 'won'
           WHEN 'lost'       THEN 'lost'
           WHEN 'disqualify' THEN 'disqualified'
           ELSE CASE WHEN i.at > now() - interval '30 days' THEN 'pending' ELSE 'no_change' END
       END                                                                 AS outcome,
       n.changed_at                                                        AS outcome_at,
       round(extract(epoch FROM n.changed_at - i.at) / 86400, 2)           AS days_to_outcome
FROM interventions i
LEFT JOIN LATERAL (
    SELECT h.kind, h.changed_at FROM stage_history h
    WHERE h.deal_id = i.deal_id AND h.changed_at > i.at AND h.changed_at <= i.at + interval '30 days'
    ORDER BY h.changed_at, h.event_id LIMIT 1) n ON true
ORDER BY i.at, i.event_id;
COMMENT ON VIEW intervention_outcomes IS
    'Each intervention ([M3]) and the first stage change of its deal within 30 days after it: advanced, regressed '
    '(regression or nurture), won, lost, disqualified; no_change after 30 quiet days, pending before.';

CREATE OR REPLACE VIEW intervention_outcomes_by_kind AS
SELECT o.kind,
       count(*)                                          AS interventions,
       count(*) FILTER (WHERE o.outcome = 'advanced')    AS advanced,
       count(*) FILTER (WHERE o.outcome = 'regressed')   AS regressed,
       count(*) FILTER (WHERE o.outcome = 'won')         AS won,
       count(*) FILTER (WHERE o.outcome = 'lost')        AS lost,
       count(*) FILTER (WHERE o.outcome = 'disqualified') AS disqualified,
       count(*) FILTER (WHERE o.outcome = 'no_change')   AS no_change,
       count(*) FILTER (WHERE o.outcome = 'pending')     AS pending
FROM intervention_outcomes o
GROUP BY o.kind
ORDER BY o.kind;
COMMENT ON VIEW intervention_outcomes_by_kind IS 'intervention_outcomes counted per kind of intervention.';

CREATE OR REPLACE VIEW loss_reasons_by_stage AS
SELECT h.from_stage AS stage, h.reason, count(*) AS losses
FROM stage_history h
WHERE h.kind = 'lost'
GROUP BY h.from_stage, h.reason
ORDER BY analytics_stage_position(h.from_stage), h.from_stage, count(*) DESC, h.reason NULLS LAST;
COMMENT ON FUNCTION review_quarterly_sample_for_manager(double precision, integer, text) IS
    'review_quarterly_sample drawn among the deals of one manager (deal_managers): reproducible by seed.';
COMMENT ON VIEW loss_reasons_by_stage IS
    'Lost deals (deal.lost: stage_history kind lost) per stage they were lost from and reason (NULL: none given).';

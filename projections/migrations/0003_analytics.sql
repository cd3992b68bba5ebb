-- Analytics for sales managers ([T3]) and the inspection queues ([M2]), as plain views over the
-- projection tables: nothing is materialised, every figure is computed when it is read.
-- See projections/ANALYTICS.md for each view's meaning, columns and an example.
--
-- Conventions:
--   * a "stay" is a completed time in a stage: one stage_history row (from_stage, days_in_from_stage);
--   * days are numeric, rounded to 2 decimals; rates are numeric, rounded to 4 decimals
--     (0 when the denominator is 0);
--   * weeks are ISO weeks (starting Monday) in UTC, as dates; "today" is the UTC date, as in the
--     detectors ("a date passes at the end of that day in UTC");
--   * owner and amount are the deal's current ones (deals), not those at the time of the stay;
--   * rows are ordered by the default playbook's stage order (analytics_stage_position).
-- Idempotent-safe: CREATE OR REPLACE / IF NOT EXISTS / ON CONFLICT DO NOTHING throughout.

-- Stage order for sorting: the default playbook's stages, then the parking stage; other stages
-- (custom playbooks) sort after them, by name.
CREATE OR REPLACE FUNCTION analytics_stage_position(stage text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_position(ARRAY['discovery', 'qualification', 'proposal', 'negotiation',
                                         'closing', 'nurture'], stage), 1000)
$$;
COMMENT ON FUNCTION analytics_stage_position(text) IS
    'Sort key of a stage in the analytics views: default playbook order, then nurture, then any other stage (1000).';

-- Default benchmark days per stage ([V1]), used when no completed stay exists yet.
CREATE TABLE IF NOT EXISTS stage_benchmarks (
    stage           text PRIMARY KEY,
    benchmark_days  numeric NOT NULL CHECK (benchmark_days > 0)
);
INSERT INTO stage_benchmarks (stage, benchmark_days) VALUES
    ('discovery', 7),
    ('qualification', 14),
    ('proposal', 21),
    ('negotiation', 28),
    ('closing', 10)
ON CONFLICT (stage) DO NOTHING;
COMMENT ON TABLE stage_benchmarks IS
    'Default benchmark days per stage (the seed''s example averages, [V1]); review_monthly falls back to them '
    'when a stage has no completed stay. Edit the rows to change them; they do not follow the playbook file.';


-- ---------------------------------------------------------------------------------------------
-- Time in stage ([V1], [T3])
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE VIEW time_in_stage_by_stage AS
SELECT h.from_stage                                                             AS stage,
       count(*)                                                                 AS stays,
       round(avg(h.days_in_from_stage)::numeric, 2)                             AS avg_days,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY h.days_in_from_stage))::numeric, 2)
                                                                                AS median_days
FROM stage_history h
GROUP BY h.from_stage
ORDER BY analytics_stage_position(h.from_stage), h.from_stage;
COMMENT ON VIEW time_in_stage_by_stage IS
    'Completed stays per stage (rows of stage_history by from_stage): count, average and median days.';

CREATE OR REPLACE VIEW time_in_stage_by_rep AS
SELECT d.owner_id,
       h.from_stage                                                             AS stage,
       count(*)                                                                 AS stays,
       round(avg(h.days_in_from_stage)::numeric, 2)                             AS avg_days,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY h.days_in_from_stage))::numeric, 2)
                                                                                AS median_days
FROM stage_history h
JOIN deals d ON d.deal_id = h.deal_id
GROUP BY d.owner_id, h.from_stage
ORDER BY d.owner_id NULLS LAST, analytics_stage_position(h.from_stage), h.from_stage;
COMMENT ON VIEW time_in_stage_by_rep IS
    'Completed stays per rep (the deal''s current owner_id) and stage: count, average and median days.';

CREATE OR REPLACE VIEW time_in_stage_by_size_band AS
WITH banded AS (
    -- Each deal in the band its current amount falls in: min_amount <= amount < max_amount
    -- (max_amount NULL = unbounded). Deals without an amount are in no band.
    SELECT d.deal_id, b.band, b.position
    FROM deals d
    JOIN deal_size_bands b
      ON d.amount >= b.min_amount AND (b.max_amount IS NULL OR d.amount < b.max_amount)
)
SELECT bd.band,
       h.from_stage                                                             AS stage,
       count(*)                                                                 AS stays,
       round(avg(h.days_in_from_stage)::numeric, 2)                             AS avg_days,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY h.days_in_from_stage))::numeric, 2)
                                                                                AS median_days
FROM stage_history h
JOIN banded bd ON bd.deal_id = h.deal_id
GROUP BY bd.position, bd.band, h.from_stage
ORDER BY bd.position, analytics_stage_position(h.from_stage), h.from_stage;
COMMENT ON VIEW time_in_stage_by_size_band IS
    'Completed stays per deal-size band (deal_size_bands, by the deal''s current amount; deals without an amount '
    'are left out) and stage: count, average and median days; ordered by band position.';


-- ---------------------------------------------------------------------------------------------
-- Stage conversion and regression ([T3], [R3])
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE VIEW stage_conversion AS
WITH stages AS (
    -- Every stage entered or left (a stay whose entry was never recorded still shows, entered = 0).
    SELECT stage FROM stage_entries
    UNION
    SELECT from_stage FROM stage_history
),
entered AS (
    SELECT stage, count(DISTINCT deal_id) AS entered
    FROM stage_entries
    GROUP BY stage
),
exits AS (
    -- Distinct deals that left the stage by each kind: a deal entering a stage several times
    -- counts once per kind (and may count under several kinds).
    SELECT from_stage AS stage,
           count(DISTINCT deal_id) FILTER (WHERE kind = 'advance')    AS advanced,
           count(DISTINCT deal_id) FILTER (WHERE kind = 'regress')    AS regressed,
           count(DISTINCT deal_id) FILTER (WHERE kind = 'nurture')    AS nurtured,
           count(DISTINCT deal_id) FILTER (WHERE kind = 'disqualify') AS disqualified,
           count(DISTINCT deal_id) FILTER (WHERE kind = 'lost')       AS lost,
           count(DISTINCT deal_id) FILTER (WHERE kind = 'won')        AS won
    FROM stage_history
    GROUP BY from_stage
),
still AS (
    -- Open deals currently in the stage (among those that entered it).
    SELECT d.stage, count(*) AS still_in_stage
    FROM deals d
    WHERE d.status = 'open'
      AND EXISTS (SELECT 1 FROM stage_entries e WHERE e.deal_id = d.deal_id AND e.stage = d.stage)
    GROUP BY d.stage
),
counts AS (
    SELECT s.stage,
           coalesce(n.entered, 0)        AS entered,
           coalesce(x.advanced, 0)       AS advanced,
           coalesce(x.regressed, 0)      AS regressed,
           coalesce(x.nurtured, 0)       AS nurtured,
           coalesce(x.disqualified, 0)   AS disqualified,
           coalesce(x.lost, 0)           AS lost,
           coalesce(x.won, 0)            AS won,
           coalesce(st.still_in_stage, 0) AS still_in_stage
    FROM stages s
    LEFT JOIN entered n  ON n.stage = s.stage
    LEFT JOIN exits x    ON x.stage = s.stage
    LEFT JOIN still st   ON st.stage = s.stage
)
SELECT stage, entered, advanced, regressed, nurtured, disqualified, lost, won, still_in_stage,
       coalesce(round(advanced::numeric     / nullif(entered, 0), 4), 0.0000) AS advanced_rate,
       coalesce(round(regressed::numeric    / nullif(entered, 0), 4), 0.0000) AS regressed_rate,
       coalesce(round(disqualified::numeric / nullif(entered, 0), 4), 0.0000) AS disqualified_rate,
       coalesce(round(lost::numeric         / nullif(entered, 0), 4), 0.0000) AS lost_rate
FROM counts
ORDER BY analytics_stage_position(stage), stage;
COMMENT ON VIEW stage_conversion IS
    'Per stage: deals that entered it (distinct deals in stage_entries) and how many of them left it by each kind '
    '(distinct deals in stage_history with that from_stage), open deals still in it, and rates = count / entered.';

CREATE OR REPLACE VIEW regression_rate_by_stage AS
SELECT stage, entered, regressed, regressed_rate AS regression_rate
FROM stage_conversion
ORDER BY analytics_stage_position(stage), stage;
COMMENT ON VIEW regression_rate_by_stage IS
    'Per stage: distinct deals that entered it, how many regressed from it, and the share (from stage_conversion).';

CREATE OR REPLACE VIEW regression_rate_by_rep AS
WITH regressed AS (
    SELECT DISTINCT deal_id FROM stage_history WHERE kind = 'regress'
)
SELECT d.owner_id,
       count(*)                                                            AS deals,
       count(r.deal_id)                                                    AS regressed_deals,
       round(count(r.deal_id)::numeric / count(*), 4)                      AS regression_rate
FROM deals d
LEFT JOIN regressed r ON r.deal_id = d.deal_id
GROUP BY d.owner_id
ORDER BY d.owner_id NULLS LAST;
COMMENT ON VIEW regression_rate_by_rep IS
    'Per rep (current owner_id): deals owned, deals regressed at least once, and the share.';


-- ---------------------------------------------------------------------------------------------
-- Velocity over time ([T3])
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE VIEW velocity_weekly AS
SELECT date_trunc('week', h.changed_at AT TIME ZONE 'UTC')::date          AS week,
       h.from_stage                                                        AS stage,
       round(avg(h.days_in_from_stage)::numeric, 2)                        AS avg_days
FROM stage_history h
GROUP BY 1, h.from_stage
ORDER BY 1, analytics_stage_position(h.from_stage), h.from_stage;
COMMENT ON VIEW velocity_weekly IS
    'Average days of the stays completed each week (ISO week of changed_at, UTC), per stage: the velocity trend.';

CREATE OR REPLACE VIEW cycle_length_weekly AS
WITH closes AS (
    -- The closing change of each deal (the first, should the log hold more than one).
    SELECT DISTINCT ON (h.deal_id) h.deal_id, h.changed_at
    FROM stage_history h
    WHERE h.kind IN ('won', 'lost', 'disqualify')
    ORDER BY h.deal_id, h.changed_at
)
SELECT date_trunc('week', c.changed_at AT TIME ZONE 'UTC')::date          AS week,
       count(*)                                                            AS closed_deals,
       round(avg(extract(epoch FROM c.changed_at - d.created_at) / 86400), 2) AS avg_cycle_days
FROM closes c
JOIN deals d ON d.deal_id = c.deal_id
GROUP BY 1
ORDER BY 1;
COMMENT ON VIEW cycle_length_weekly IS
    'Deals closed (won, lost or disqualified) each week (ISO week of the close, UTC) and their average cycle: '
    'days from deals.created_at to the close.';

CREATE OR REPLACE VIEW pipeline_velocity AS
WITH open_deals AS (
    SELECT count(*) AS open_deals, avg(amount) AS avg_amount
    FROM deals
    WHERE status = 'open'
),
outcomes AS (
    SELECT count(*) FILTER (WHERE status = 'won') AS won,
           count(*) FILTER (WHERE status IN ('won', 'lost', 'disqualified')) AS closed
    FROM deals
),
won_cycles AS (
    SELECT avg(extract(epoch FROM h.changed_at - d.created_at) / 86400) AS avg_cycle_days
    FROM stage_history h
    JOIN deals d ON d.deal_id = h.deal_id
    WHERE h.kind = 'won'
),
figures AS (
    SELECT o.open_deals,
           o.avg_amount,
           oc.won::numeric / nullif(oc.closed, 0) AS win_rate,
           w.avg_cycle_days
    FROM open_deals o CROSS JOIN outcomes oc CROSS JOIN won_cycles w
)
SELECT open_deals,
       round(avg_amount, 2)                                                AS avg_amount,
       round(win_rate, 4)                                                  AS win_rate,
       round(avg_cycle_days, 2)                                            AS avg_cycle_days,
       -- Unrounded inputs; NULL when there is no won deal (no cycle to divide by).
       round(open_deals * avg_amount * win_rate / nullif(avg_cycle_days, 0), 2)
                                                                           AS pipeline_velocity_per_day
FROM figures;
COMMENT ON VIEW pipeline_velocity IS
    'Pipeline velocity (amount per day) = open deals x average amount of open deals x win rate '
    '(won / (won + lost + disqualified)) / average cycle days of won deals; NULL when no deal was won.';


-- ---------------------------------------------------------------------------------------------
-- Blockers ([T3]: most common stall reasons)
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE VIEW blocker_criteria AS
SELECT m.criterion,
       g.stage,
       count(*) AS refusals
FROM gate_rejections g
CROSS JOIN LATERAL unnest(g.missing_criteria) AS m(criterion)
GROUP BY m.criterion, g.stage
ORDER BY refusals DESC, analytics_stage_position(g.stage), g.stage, m.criterion;
COMMENT ON VIEW blocker_criteria IS
    'Exit criteria that blocked stage changes: refusals (gate_rejections) naming each missing criterion, '
    'per criterion and the stage the deal was in; most common first.';

CREATE OR REPLACE VIEW alert_types_by_stage AS
SELECT a.stage,
       a.type,
       count(*) AS alerts
FROM alerts a
GROUP BY a.stage, a.type
ORDER BY analytics_stage_position(a.stage), a.stage, alerts DESC, a.type;
COMMENT ON VIEW alert_types_by_stage IS
    'Alerts ever raised (open or resolved) per stage the deal was in and alert type.';


-- ---------------------------------------------------------------------------------------------
-- Close-date slips (forecast hygiene)
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE VIEW close_date_slips AS
WITH slips AS (
    SELECT c.deal_id, (c.new_date - c.old_date) AS days_slipped
    FROM close_date_changes c
    WHERE c.new_date > c.old_date          -- a move later; a first date (old_date NULL) is no slip
)
SELECT s.deal_id,
       d.owner_id,
       count(*)            AS slips,
       sum(s.days_slipped) AS total_days_slipped,
       max(s.days_slipped) AS max_days_slipped
FROM slips s
LEFT JOIN deals d ON d.deal_id = s.deal_id
GROUP BY s.deal_id, d.owner_id
ORDER BY total_days_slipped DESC, s.deal_id;
COMMENT ON VIEW close_date_slips IS
    'Per deal whose close date moved later: number of slips, total and largest slip in days.';

CREATE OR REPLACE VIEW close_date_slip_summary AS
WITH slips AS (
    SELECT c.deal_id, (c.new_date - c.old_date) AS days_slipped
    FROM close_date_changes c
    WHERE c.new_date > c.old_date
)
SELECT (SELECT count(DISTINCT deal_id) FROM slips)                         AS deals_with_slips,
       (SELECT count(*) FROM slips)                                         AS slips,
       (SELECT round(avg(days_slipped), 2) FROM slips)                      AS avg_days_slipped,
       coalesce(round((SELECT count(DISTINCT deal_id) FROM slips)::numeric
                      / nullif((SELECT count(*) FROM deals), 0), 4), 0.0000) AS share_of_deals_slipped;
COMMENT ON VIEW close_date_slip_summary IS
    'One row: deals whose close date slipped, number of slips, average days per slip (NULL when none), '
    'and the share of all deals that slipped.';


-- ---------------------------------------------------------------------------------------------
-- Inspection queues ([M2])
-- ---------------------------------------------------------------------------------------------

CREATE OR REPLACE VIEW review_weekly AS
WITH open_alerts AS (
    SELECT a.deal_id,
           count(*)                                   AS open_alerts,
           array_agg(DISTINCT a.type ORDER BY a.type) AS open_alert_types
    FROM alerts a
    WHERE a.status = 'raised'
    GROUP BY a.deal_id
)
SELECT d.deal_id,
       d.name,
       d.owner_id,
       d.amount,
       d.currency,
       d.stage,
       d.stage_entered_at,
       round(extract(epoch FROM now() - d.stage_entered_at) / 86400, 2)    AS days_in_stage,
       d.missing_criteria,
       d.next_step_description,
       d.next_step_due,
       d.close_date,
       CASE
           WHEN d.close_date IS NULL                                       THEN 'missing'
           WHEN d.close_date <  (now() AT TIME ZONE 'UTC')::date           THEN 'passed'
           WHEN d.close_date <= (now() AT TIME ZONE 'UTC')::date + 14      THEN 'at_risk'
           ELSE 'ok'
       END                                                                 AS close_date_risk,
       coalesce(oa.open_alerts, 0)                                         AS open_alerts,
       coalesce(oa.open_alert_types, '{}')                                 AS open_alert_types
FROM deals d
LEFT JOIN open_alerts oa ON oa.deal_id = d.deal_id
WHERE d.status = 'open'
  AND d.stage IN ('proposal', 'negotiation', 'closing')
ORDER BY analytics_stage_position(d.stage) DESC, d.close_date NULLS FIRST, d.deal_id;
COMMENT ON VIEW review_weekly IS
    'Weekly review ([M2]): every open late-stage deal (proposal, negotiation, closing) with its blockers '
    '(missing_criteria), next step, close date and its risk (passed / at_risk within 14 days / ok / missing, '
    'UTC today) and its open alerts; closing first, then by close date.';

CREATE OR REPLACE VIEW review_monthly AS
WITH averages AS (
    -- The average completed stay, or the stage's default benchmark while there is none.
    SELECT b.stage,
           coalesce(t.avg_days, b.benchmark_days)                          AS average_days,
           CASE WHEN t.avg_days IS NULL THEN 'benchmark' ELSE 'stays' END  AS average_source
    FROM stage_benchmarks b
    LEFT JOIN time_in_stage_by_stage t ON t.stage = b.stage
),
open_mid AS (
    SELECT d.*, extract(epoch FROM now() - d.stage_entered_at) / 86400     AS days
    FROM deals d
    WHERE d.status = 'open'
      AND d.stage IN ('qualification', 'proposal')
)
SELECT m.deal_id,
       m.name,
       m.owner_id,
       m.amount,
       m.stage,
       m.stage_entered_at,
       round(m.days, 2)                                                    AS days_in_stage,
       a.average_days,
       a.average_source,
       round(m.days / a.average_days, 2)                                   AS ratio,
       m.missing_criteria,
       m.next_step_description,
       m.next_step_due
FROM open_mid m
JOIN averages a ON a.stage = m.stage
WHERE m.days > a.average_days
ORDER BY m.days / a.average_days DESC, m.deal_id;
COMMENT ON VIEW review_monthly IS
    'Monthly review ([M2]): open mid-stage deals (qualification, proposal) in their stage longer than the stage''s '
    'average completed stay (time_in_stage_by_stage; stage_benchmarks when there is none); most overdue first.';

CREATE OR REPLACE FUNCTION review_quarterly_sample(seed double precision, per_stage integer)
RETURNS TABLE (deal_id text, stage text, status text, owner_id text, amount numeric, evidence jsonb)
LANGUAGE sql STABLE AS $$
    WITH ranked AS (
        -- A pseudo-random but reproducible order within each current stage: the same seed
        -- always draws the same deals, another seed draws others.
        SELECT d.deal_id, d.stage, d.status, d.owner_id, d.amount,
               row_number() OVER (PARTITION BY d.stage
                                  ORDER BY md5(review_quarterly_sample.seed::text || d.deal_id), d.deal_id) AS draw
        FROM deals d
    )
    SELECT r.deal_id, r.stage, r.status, r.owner_id, r.amount,
           coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'criterion',   e.criterion,
                                'kind',        e.kind,
                                'reference',   e.reference,
                                'recorded_by', e.recorded_by,
                                'recorded_at', (to_jsonb(e.recorded_at AT TIME ZONE 'UTC') #>> '{}') || 'Z',
                                'valid',       e.valid)
                            ORDER BY e.recorded_at, e.event_id)
                     FROM evidence e
                     WHERE e.deal_id = r.deal_id), '[]'::jsonb) AS evidence
    FROM ranked r
    WHERE r.draw <= review_quarterly_sample.per_stage
    ORDER BY analytics_stage_position(r.stage), r.stage, r.draw
$$;
COMMENT ON FUNCTION review_quarterly_sample(double precision, integer) IS
    'Quarterly audit ([M2]): a reproducible sample of per_stage deals in every current stage (any status), '
    'drawn by md5(seed || deal_id), each with its evidence rows as a jsonb array (were the exit criteria really met?).';

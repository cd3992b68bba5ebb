-- The alert lifecycle of issue 16: conditions (open from raised until resolved, one alert_id per
-- episode, re-published as "updated") and notifications (published once, never open); who
-- acknowledged or snoozed a condition; the history of every alert record; and every count of
-- open alerts counting open conditions only.

ALTER TABLE alerts
    ADD COLUMN IF NOT EXISTS kind            text NOT NULL DEFAULT 'condition'
                                             CHECK (kind IN ('condition', 'notification')),
    ADD COLUMN IF NOT EXISTS team            text,
    ADD COLUMN IF NOT EXISTS updated_at      timestamptz,
    ADD COLUMN IF NOT EXISTS acknowledged_by text,
    ADD COLUMN IF NOT EXISTS acknowledged_at timestamptz,
    ADD COLUMN IF NOT EXISTS snoozed_until   timestamptz,
    ADD COLUMN IF NOT EXISTS revision        integer NOT NULL DEFAULT 0;

-- Alerts raised by one message were never conditions (schemas.alerts.NOTIFICATION_TYPES).
UPDATE alerts SET kind = 'notification'
WHERE type IN ('gate.rejected', 'deal.late_stage_entered', 'stakeholders.review_requested', 'momentum.detected');
-- updated_at: the moment of the latest record applied (its resolution, its update or its raise);
-- the writers always fill it (a row inserted by other means without it counts as of its raise).
UPDATE alerts SET updated_at = coalesce(resolved_at, raised_at) WHERE updated_at IS NULL;

ALTER TABLE alerts DROP CONSTRAINT IF EXISTS alerts_status_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_status_check CHECK (status IN ('raised', 'updated', 'resolved'));
CREATE INDEX IF NOT EXISTS alerts_open_conditions_idx ON alerts (deal_id, type)
    WHERE kind = 'condition' AND status <> 'resolved';
CREATE INDEX IF NOT EXISTS alerts_owner_idx ON alerts (owner_id);
CREATE INDEX IF NOT EXISTS alerts_team_idx ON alerts (team);

-- One row per alert record published (raise, update, resolution), for the digest and timelines.
CREATE TABLE IF NOT EXISTS alert_changes (
    alert_id         text NOT NULL,
    revision         integer NOT NULL DEFAULT 0,
    status           text NOT NULL CHECK (status IN ('raised', 'updated', 'resolved')),
    at               timestamptz NOT NULL,
    deal_id          text NOT NULL,
    type             text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('condition', 'notification')),
    severity         text NOT NULL,
    stage            text,
    owner_id         text,
    team             text,
    details          jsonb NOT NULL DEFAULT '{}',
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    snoozed_until    timestamptz,
    notify           boolean NOT NULL DEFAULT true,
    PRIMARY KEY (alert_id, revision, status, at)
);
CREATE INDEX IF NOT EXISTS alert_changes_deal_idx ON alert_changes (deal_id, at);
CREATE INDEX IF NOT EXISTS alert_changes_at_idx ON alert_changes (at);

-- The history of the alerts projected before this migration: their raise, and their resolution.
INSERT INTO alert_changes (alert_id, status, at, deal_id, type, kind, severity, stage, owner_id, details)
SELECT alert_id, 'raised', raised_at, deal_id, type, kind, severity, stage, owner_id, details FROM alerts
UNION ALL
SELECT alert_id, 'resolved', resolved_at, deal_id, type, kind, severity, stage, owner_id, details FROM alerts
WHERE status = 'resolved' AND resolved_at IS NOT NULL
ON CONFLICT DO NOTHING;

-- Acknowledgements and snoozes (facts alert.acknowledged and alert.snoozed).
CREATE TABLE IF NOT EXISTS alert_actions (
    event_id    text PRIMARY KEY,
    deal_id     text NOT NULL,
    alert_id    text NOT NULL,
    alert_type  text,
    action      text NOT NULL CHECK (action IN ('acknowledged', 'snoozed')),
    actor       text,
    acted_at    timestamptz NOT NULL,
    until       timestamptz,
    note        text
);
CREATE INDEX IF NOT EXISTS alert_actions_deal_idx ON alert_actions (deal_id, acted_at);

-- Every count of open alerts reads this view: open conditions only.
CREATE OR REPLACE VIEW open_conditions AS
SELECT a.alert_id, a.deal_id, a.type, a.severity, a.status, a.raised_at, a.resolved_at, a.stage, a.owner_id,
       a.caused_by, a.details, a.kind, a.team, a.updated_at, a.acknowledged_by, a.acknowledged_at,
       a.snoozed_until, a.revision,  -- what a.* was here, listed so that this runs again after 0005 adds columns
       coalesce(a.snoozed_until > now(), false)  AS snoozed,
       a.acknowledged_by IS NOT NULL             AS acknowledged
FROM alerts a
WHERE a.kind = 'condition' AND a.status <> 'resolved';
COMMENT ON VIEW open_conditions IS
    'Open condition alerts (kind condition, status raised or updated): what every count of open alerts counts. '
    'snoozed: snoozed until a moment still to come (still open, but needs no action now); acknowledged: someone owns it.';

-- Per deal: its open conditions, and how many of them need action now (not snoozed).
CREATE OR REPLACE VIEW open_conditions_by_deal AS
SELECT a.deal_id,
       count(*)                                          AS open_alerts,
       array_agg(DISTINCT a.type ORDER BY a.type)        AS open_alert_types,
       count(*) FILTER (WHERE NOT a.snoozed)             AS needs_action,
       count(*) FILTER (WHERE a.snoozed)                 AS snoozed_alerts,
       count(*) FILTER (WHERE a.acknowledged)            AS acknowledged_alerts
FROM open_conditions a
GROUP BY a.deal_id;
COMMENT ON VIEW open_conditions_by_deal IS
    'Per deal with open condition alerts: how many are open, their types, how many need action now (not snoozed), '
    'are snoozed, are acknowledged.';

-- The weekly review counts open conditions only (its columns are those of 0003; the CLI adds the
-- needs-action counts of open_conditions_by_deal).
CREATE OR REPLACE VIEW review_weekly AS
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
LEFT JOIN open_conditions_by_deal oa ON oa.deal_id = d.deal_id
WHERE d.status = 'open'
  AND d.stage IN ('proposal', 'negotiation', 'closing')
ORDER BY analytics_stage_position(d.stage) DESC, d.close_date NULLS FIRST, d.deal_id;
COMMENT ON VIEW review_weekly IS
    'Weekly review ([M2]): every open late-stage deal (proposal, negotiation, closing) with its blockers '
    '(missing_criteria), next step, close date and its risk (passed / at_risk within 14 days / ok / missing, '
    'UTC today) and its open condition alerts (notifications are never open); closing first, then by close date.';

-- The evidence forecast of issue 18, stored: one snapshot per forecast moment (as_of) with a line per period
-- for everyone, each team and each owner, and the open deals it counted with their probability and the
-- factors behind it; views of the newest snapshot and of each snapshot against what was then won.
-- Periods are UTC calendar quarters ('2027-Q1') or months ('2027-03'), as in processors/forecast/periods.py.
-- Amounts are numeric(18, 2); errors are percentages, numeric with 2 decimals.
-- The snapshots are not projections of the log: `dealflow rebuild` leaves them alone.
-- Idempotent-safe: IF NOT EXISTS / CREATE OR REPLACE throughout.

-- A period's bounds from its name: [period_start, period_end) in UTC; NULLs for a name of neither form.
CREATE OR REPLACE FUNCTION forecast_period_bounds(period text, OUT period_start timestamptz,
                                                  OUT period_end timestamptz)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    WITH parsed AS (
        SELECT q[1]::integer AS year, 3 * q[2]::integer - 2 AS month, 3 AS months
        FROM regexp_match(period, '^(\d{4})-Q([1-4])$') AS q WHERE q IS NOT NULL
        UNION ALL
        SELECT m[1]::integer, m[2]::integer, 1
        FROM regexp_match(period, '^(\d{4})-(0[1-9]|1[0-2])$') AS m WHERE m IS NOT NULL
    )
    SELECT make_timestamp(year, month, 1, 0, 0, 0) AT TIME ZONE 'UTC',
           (make_timestamp(year, month, 1, 0, 0, 0) + make_interval(months => months)) AT TIME ZONE 'UTC'
    FROM parsed
$$;
COMMENT ON FUNCTION forecast_period_bounds(text) IS
    'First moment and end (exclusive) in UTC of a forecast period named like 2027-Q1 (quarter) or 2027-03 (month).';

-- ---------------------------------------------------------------------------------------------
-- Snapshots: one row per (as_of, period, scope, team, owner); saving the same as_of again replaces it.
CREATE TABLE IF NOT EXISTS forecast_snapshots (
    as_of        timestamptz NOT NULL,
    period       text NOT NULL,
    period_kind  text NOT NULL CHECK (period_kind IN ('quarter', 'month')),
    scope        text NOT NULL CHECK (scope IN ('all', 'team', 'owner')),
    team         text,
    owner_id     text,
    model        text NOT NULL,
    closed_deals integer NOT NULL,
    won_to_date  numeric(18, 2) NOT NULL,
    expected     numeric(18, 2) NOT NULL,
    baseline     numeric(18, 2) NOT NULL,
    commit       numeric(18, 2) NOT NULL,
    best_case    numeric(18, 2) NOT NULL,
    pipeline     numeric(18, 2) NOT NULL,
    open_deals   integer NOT NULL,
    saved_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (CASE scope WHEN 'all' THEN team IS NULL AND owner_id IS NULL
                      WHEN 'team' THEN team IS NOT NULL AND owner_id IS NULL
                      ELSE owner_id IS NOT NULL END)
);
CREATE UNIQUE INDEX IF NOT EXISTS forecast_snapshots_key
    ON forecast_snapshots (as_of, period, scope, coalesce(team, ''), coalesce(owner_id, ''));
CREATE INDEX IF NOT EXISTS forecast_snapshots_period_idx ON forecast_snapshots (period, scope, as_of);
COMMENT ON TABLE forecast_snapshots IS
    'Forecast lines per moment (as_of) and period, for everyone (scope all), a team or an owner (an owner''s line '
    'may name the team too): won to date, expected, weighted-pipeline baseline, open amount per category.';

-- The open deals each snapshot counted.
CREATE TABLE IF NOT EXISTS forecast_deals (
    as_of                 timestamptz NOT NULL,
    deal_id               text NOT NULL,
    period                text NOT NULL,
    owner_id              text,
    team                  text,
    stage                 text NOT NULL,
    amount                numeric(18, 2) NOT NULL,
    close_date            date NOT NULL,
    probability           double precision NOT NULL CHECK (probability BETWEEN 0 AND 1),
    baseline_probability  double precision NOT NULL CHECK (baseline_probability BETWEEN 0 AND 1),
    category              text NOT NULL CHECK (category IN ('commit', 'best_case', 'pipeline')),
    factors               jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (as_of, deal_id)
);
CREATE INDEX IF NOT EXISTS forecast_deals_deal_idx ON forecast_deals (deal_id, as_of);
COMMENT ON TABLE forecast_deals IS
    'Per snapshot (as_of) and open deal: the period it counted in, its win probability, the stage win rate '
    '(baseline_probability), category and factors (jsonb list of {name, description, effect in log-odds}).';

-- ---------------------------------------------------------------------------------------------
-- Views

CREATE OR REPLACE VIEW forecast_latest AS
SELECT l.as_of, l.period, l.period_kind, l.scope, l.team, l.owner_id, l.model, l.closed_deals, l.won_to_date,
       l.expected, l.baseline, l.commit, l.best_case, l.pipeline, l.open_deals, l.saved_at
FROM (
    SELECT DISTINCT ON (s.period, s.scope, s.team, s.owner_id) s.*
    FROM forecast_snapshots s
    ORDER BY s.period, s.scope, s.team, s.owner_id, s.as_of DESC
) l
ORDER BY l.period, array_position(ARRAY['all', 'team', 'owner'], l.scope), l.team NULLS FIRST, l.owner_id;
COMMENT ON VIEW forecast_latest IS
    'The newest forecast line per period and scope (everyone, each team, each owner): a line the newest '
    'snapshot no longer has (an owner without open deals) shows as of the last snapshot that had it.';

CREATE OR REPLACE VIEW forecast_vs_actual AS
WITH won AS (
    -- The won moment of each won deal: its stage change of kind won (the first, should there be more).
    SELECT DISTINCT ON (h.deal_id) h.deal_id, d.amount, h.changed_at AS won_at
    FROM stage_history h
    JOIN deals d ON d.deal_id = h.deal_id AND d.status = 'won'
    WHERE h.kind = 'won'
    ORDER BY h.deal_id, h.changed_at
),
periods AS (
    SELECT p.period, b.period_start, b.period_end
    FROM (SELECT DISTINCT period FROM forecast_snapshots WHERE scope = 'all') p
    CROSS JOIN LATERAL forecast_period_bounds(p.period) b
),
actual AS (
    SELECT p.period, p.period_start, p.period_end,
           coalesce(sum(w.amount), 0)::numeric(18, 2) AS actual,
           count(w.deal_id)                           AS won_deals
    FROM periods p
    LEFT JOIN won w ON w.won_at >= p.period_start AND w.won_at < p.period_end
    GROUP BY p.period, p.period_start, p.period_end
)
SELECT s.period, s.period_kind, a.period_start, a.period_end, s.as_of,
       floor(extract(epoch FROM s.as_of - a.period_start) / (7 * 86400))::integer AS week,
       s.model, s.won_to_date, s.expected, s.baseline, a.actual, a.won_deals,
       round(100 * abs(s.expected - a.actual) / nullif(a.actual, 0), 2)          AS expected_error_pct,
       round(100 * abs(s.baseline - a.actual) / nullif(a.actual, 0), 2)          AS baseline_error_pct,
       a.period_end <= now()                                                     AS period_over
FROM forecast_snapshots s
JOIN actual a ON a.period = s.period
WHERE s.scope = 'all'
ORDER BY a.period_start NULLS LAST, s.period, s.as_of;
COMMENT ON VIEW forecast_vs_actual IS
    'Each snapshot''s forecast for everyone (expected and the weighted-pipeline baseline) beside the amount '
    'actually won in the period (deals won, at their stage_history won moment, in [period_start, period_end)), '
    'the absolute percentage errors of both (NULL while nothing is won), the week of the period the snapshot '
    'was taken in (floor of days since period_start / 7; negative before it) and whether the period is over.';

-- Raw material for activity figures and analytics: engagement, stage entries, close-date moves.

-- One row per accepted engagement message (from engagement.recorded facts).
CREATE TABLE IF NOT EXISTS engagement (
    event_id        text PRIMARY KEY,
    deal_id         text NOT NULL,
    type            text NOT NULL,
    contact_id      text,
    occurred_at     timestamptz NOT NULL,
    buyer_response  boolean NOT NULL,
    buyer_engagement boolean NOT NULL,
    outbound_touch  boolean NOT NULL
);
CREATE INDEX IF NOT EXISTS engagement_deal_idx ON engagement (deal_id, occurred_at);

-- Every entry of a deal into a stage, including the stage it was created (or imported) in.
CREATE TABLE IF NOT EXISTS stage_entries (
    event_id    text PRIMARY KEY,
    deal_id     text NOT NULL,
    stage       text NOT NULL,
    entered_at  timestamptz NOT NULL,
    via         text NOT NULL CHECK (via IN ('created', 'imported', 'advance', 'regress', 'nurture'))
);
CREATE INDEX IF NOT EXISTS stage_entries_deal_idx ON stage_entries (deal_id, entered_at);

-- Every change of a deal's close date (a slip when new_date > old_date).
CREATE TABLE IF NOT EXISTS close_date_changes (
    event_id    text PRIMARY KEY,
    deal_id     text NOT NULL,
    old_date    date,
    new_date    date NOT NULL,
    changed_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS close_date_changes_deal_idx ON close_date_changes (deal_id);

-- Deal-size bands for analytics; edit the rows to change them (amounts in the deal's currency).
CREATE TABLE IF NOT EXISTS deal_size_bands (
    band        text PRIMARY KEY,
    min_amount  numeric(18, 2) NOT NULL,
    max_amount  numeric(18, 2),
    position    integer NOT NULL
);
INSERT INTO deal_size_bands (band, min_amount, max_amount, position) VALUES
    ('small', 0, 10000, 1),
    ('medium', 10000, 50000, 2),
    ('large', 50000, 250000, 3),
    ('enterprise', 250000, NULL, 4)
ON CONFLICT (band) DO NOTHING;

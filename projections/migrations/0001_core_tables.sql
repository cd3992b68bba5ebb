-- Dealflow projections: current pipeline state and the raw material of analytics.
-- Table and column names are part of the contract (see README, "Projections").

CREATE TABLE IF NOT EXISTS deals (
    deal_id                 text PRIMARY KEY,
    name                    text NOT NULL,
    owner_id                text,
    amount                  numeric(18, 2),
    currency                text NOT NULL DEFAULT 'USD',
    stage                   text NOT NULL,
    status                  text NOT NULL DEFAULT 'open'
                            CHECK (status IN ('open', 'won', 'lost', 'disqualified')),
    stage_entered_at        timestamptz NOT NULL,
    close_date              date,
    next_step_description   text,
    next_step_due           date,
    last_activity_at        timestamptz,
    last_buyer_response_at  timestamptz,
    satisfied_criteria      text[] NOT NULL DEFAULT '{}',
    missing_criteria        text[] NOT NULL DEFAULT '{}',
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS deals_stage_idx ON deals (status, stage);
CREATE INDEX IF NOT EXISTS deals_owner_idx ON deals (owner_id);

CREATE TABLE IF NOT EXISTS stage_history (
    event_id            text PRIMARY KEY,
    deal_id             text NOT NULL,
    from_stage          text NOT NULL,
    to_stage            text NOT NULL,
    kind                text NOT NULL
                        CHECK (kind IN ('advance', 'regress', 'nurture', 'disqualify', 'won', 'lost')),
    reason              text,
    changed_at          timestamptz NOT NULL,
    days_in_from_stage  double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS stage_history_deal_idx ON stage_history (deal_id, changed_at);

CREATE TABLE IF NOT EXISTS evidence (
    event_id         text PRIMARY KEY,
    deal_id          text NOT NULL,
    criterion        text NOT NULL,
    kind             text NOT NULL,
    reference        text NOT NULL,
    summary          text,
    recorded_by      text NOT NULL,
    recorded_at      timestamptz NOT NULL,
    source_event_id  text NOT NULL,
    valid            boolean NOT NULL DEFAULT true
);
CREATE INDEX IF NOT EXISTS evidence_deal_idx ON evidence (deal_id, criterion);

CREATE TABLE IF NOT EXISTS alerts (
    alert_id     text PRIMARY KEY,
    deal_id      text NOT NULL,
    type         text NOT NULL,
    severity     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('raised', 'resolved')),
    raised_at    timestamptz NOT NULL,
    resolved_at  timestamptz,
    stage        text,
    owner_id     text,
    caused_by    text,
    details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS alerts_deal_idx ON alerts (deal_id);
CREATE INDEX IF NOT EXISTS alerts_open_idx ON alerts (status, type);

CREATE TABLE IF NOT EXISTS gate_rejections (
    event_id          text PRIMARY KEY,
    deal_id           text NOT NULL,
    command_type      text NOT NULL,
    requested         jsonb NOT NULL,
    reason            text NOT NULL,
    message           text NOT NULL,
    missing_criteria  text[] NOT NULL DEFAULT '{}',
    missing_fields    text[] NOT NULL DEFAULT '{}',
    stage             text,
    owner_id          text,
    rejected_at       timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS gate_rejections_deal_idx ON gate_rejections (deal_id);

-- The exit criteria of each stage, from the playbook the projector runs with.
CREATE TABLE IF NOT EXISTS stage_criteria (
    stage      text NOT NULL,
    criterion  text NOT NULL,
    position   integer NOT NULL,
    PRIMARY KEY (stage, criterion)
);

-- Every fact applied, so a re-published fact (same event_id) is applied once.
CREATE TABLE IF NOT EXISTS projected_facts (
    event_id    text PRIMARY KEY,
    deal_id     text NOT NULL,
    type        text NOT NULL,
    occurred_at timestamptz NOT NULL
);

-- Next Kafka offset to read per topic-partition, committed with the rows it produced.
CREATE TABLE IF NOT EXISTS projector_offsets (
    consumer     text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);

-- Every alert delivery medic accepted, committed before the webhook's 2xx.
-- (source, delivery_id) is unique: a vendor's retry of the same delivery is
-- recognised and dropped. alerts_json holds the normalised alerts; state goes
-- pending -> done once the incident logic has taken them.
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT    NOT NULL,
    delivery_id  TEXT    NOT NULL,
    received_at  BIGINT  NOT NULL,
    alerts_json  TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    processed_at BIGINT,
    UNIQUE (source, delivery_id)
);
CREATE INDEX deliveries_state ON deliveries (state, id);

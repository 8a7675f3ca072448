-- One row the health check rewrites: a store that cannot write is not healthy.
CREATE TABLE IF NOT EXISTS store_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at_ms INTEGER NOT NULL
);
INSERT OR IGNORE INTO store_probe (id, checked_at_ms) VALUES (1, 0);

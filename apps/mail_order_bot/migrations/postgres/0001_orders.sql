-- PostgreSQL schema of the order store; the same tables as SQLite's, shared by every bot.
CREATE TABLE IF NOT EXISTS orders (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    subject TEXT,
    received_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    total_quantity BIGINT NOT NULL,
    total_cents BIGINT
);

CREATE TABLE IF NOT EXISTS order_lines (
    order_id BIGINT NOT NULL REFERENCES orders(id),
    line_no BIGINT NOT NULL,
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit_price_cents BIGINT,
    attachment TEXT NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE IF NOT EXISTS rejections (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_key TEXT NOT NULL UNIQUE,
    sender TEXT,
    subject TEXT,
    received_at_ms BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    reasons TEXT NOT NULL
);

-- One row the health check rewrites: a store that cannot write is not healthy.
CREATE TABLE IF NOT EXISTS store_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at_ms BIGINT NOT NULL
);
INSERT INTO store_probe (id, checked_at_ms) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;

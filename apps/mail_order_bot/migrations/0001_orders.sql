CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    subject TEXT,
    received_at_ms INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    total_quantity INTEGER NOT NULL,
    total_cents INTEGER
);

CREATE TABLE IF NOT EXISTS order_lines (
    order_id INTEGER NOT NULL REFERENCES orders(id),
    line_no INTEGER NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents INTEGER,
    attachment TEXT NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_key TEXT NOT NULL UNIQUE,
    sender TEXT,
    subject TEXT,
    received_at_ms INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    reasons TEXT NOT NULL
);

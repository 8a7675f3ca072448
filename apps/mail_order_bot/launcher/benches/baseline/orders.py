"""The order rules as a Python user would write them: shared by the two baseline loops.

Known senders map to customers (an exact address or "@domain"); every CSV attachment is read
as `sku,quantity[,unit_price]` lines; a mail becomes one order per Message-ID, or one recorded
rejection with its reasons. One commit per mail, with sqlite3's defaults.
"""

import csv
import email
import email.policy
import email.utils
import io
import sqlite3

CUSTOMERS = {"@acme.example": "ACME"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    customer TEXT NOT NULL,
    sender TEXT NOT NULL,
    subject TEXT
);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id INTEGER NOT NULL REFERENCES orders(id),
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents INTEGER
);
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY,
    message_key TEXT NOT NULL UNIQUE,
    sender TEXT,
    subject TEXT,
    reasons TEXT NOT NULL
);
"""


def open_db(path):
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    return db


def customer_of(sender):
    return CUSTOMERS.get(sender) or CUSTOMERS.get("@" + sender.rpartition("@")[2])


def read_lines(text, reasons):
    lines = []
    for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        sku = (row.get("sku") or "").strip()
        try:
            quantity = int((row.get("quantity") or "").strip())
        except ValueError:
            reasons.append(f"line {number}: quantity is not a number")
            continue
        if not sku or quantity <= 0:
            reasons.append(f"line {number}: missing sku or quantity")
            continue
        price = (row.get("unit_price") or "").strip()
        cents = round(float(price) * 100) if price else None
        lines.append((sku, quantity, cents))
    return lines


def handle(db, raw):
    """Stores one mail's outcome and commits; returns "order" or "rejection"."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    sender = email.utils.parseaddr(msg.get("From", ""))[1].lower()
    subject = msg.get("Subject")
    message_id = (msg.get("Message-ID") or "").strip().strip("<>")
    reasons = []
    customer = customer_of(sender)
    if customer is None:
        reasons.append(f"unknown sender {sender}")
    lines = []
    attachments = [
        part
        for part in msg.iter_attachments()
        if (part.get_filename() or "").lower().endswith(".csv")
    ]
    if not attachments:
        reasons.append("no order attachment")
    for part in attachments:
        content = part.get_content()
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        lines.extend(read_lines(content, reasons))
    if not reasons and not lines:
        reasons.append("no order lines")
    if reasons:
        db.execute(
            "INSERT OR IGNORE INTO rejections (message_key, sender, subject, reasons)"
            " VALUES (?, ?, ?, ?)",
            (message_id, sender, subject, "; ".join(reasons)),
        )
        outcome = "rejection"
    else:
        cursor = db.execute(
            "INSERT OR IGNORE INTO orders (message_id, customer, sender, subject)"
            " VALUES (?, ?, ?, ?)",
            (message_id, customer, sender, subject),
        )
        if cursor.rowcount:
            db.executemany(
                "INSERT INTO order_lines (order_id, sku, quantity, unit_price_cents)"
                " VALUES (?, ?, ?, ?)",
                [(cursor.lastrowid, *line) for line in lines],
            )
        outcome = "order"
    db.commit()
    return outcome

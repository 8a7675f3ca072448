//! The order domain's data: what an order and a rejection are.

use serde::Serialize;

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderLine {
    /// Stock-keeping unit as the customer wrote it (trimmed).
    pub sku: String,
    /// How many; always above zero.
    pub quantity: u32,
    /// Price per unit in cents, when given (or known from the catalog).
    pub unit_price_cents: Option<i64>,
    /// The attachment the line came from.
    pub attachment: String,
}

/// An order about to be stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewOrder {
    /// The mail's Message-ID: an order is created once per Message-ID.
    pub message_id: String,
    /// The customer, from the sender allowlist.
    pub customer_id: String,
    /// The sender's address.
    pub sender: String,
    /// The mail's subject.
    pub subject: Option<String>,
    /// When the mail was received (Unix milliseconds).
    pub received_at_ms: i64,
    /// The lines, in attachment and row order.
    pub lines: Vec<OrderLine>,
}

impl NewOrder {
    /// Sum of the quantities.
    pub fn total_quantity(&self) -> u64 {
        self.lines.iter().map(|l| u64::from(l.quantity)).sum()
    }

    /// Sum of quantity × unit price, when every line has a price.
    pub fn total_cents(&self) -> Option<i64> {
        self.lines.iter().try_fold(0_i64, |total, line| {
            let price = line.unit_price_cents?;
            total.checked_add(price.checked_mul(i64::from(line.quantity))?)
        })
    }
}

/// A mail that can never become an order, with every reason found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewRejection {
    /// The Message-ID, or the mailbox key when the mail has none.
    pub message_key: String,
    /// The sender, when readable.
    pub sender: Option<String>,
    /// The subject, when readable.
    pub subject: Option<String>,
    /// When the mail was received (Unix milliseconds).
    pub received_at_ms: i64,
    /// Why it was rejected.
    pub reasons: Vec<String>,
    /// The trace of the task that handled the mail, when known: the operator's way from the
    /// rejection to what happened to the mail.
    pub trace_id: Option<String>,
}

/// A stored order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Order {
    /// The store's id.
    pub id: i64,
    /// The order's content.
    #[serde(flatten)]
    pub order: NewOrder,
    /// Sum of the quantities.
    pub total_quantity: u64,
    /// Total in cents, when every line has a price.
    pub total_cents: Option<i64>,
    /// When it was stored (Unix milliseconds).
    pub created_at_ms: i64,
}

/// A stored rejection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The store's id.
    pub id: i64,
    /// The rejection's content.
    #[serde(flatten)]
    pub rejection: NewRejection,
    /// When it was stored (Unix milliseconds).
    pub created_at_ms: i64,
}

/// One customer's orders within a summary's period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CustomerTotals {
    /// The customer id.
    pub customer_id: String,
    /// Orders stored.
    pub orders: i64,
    /// Sum of their quantities.
    pub total_quantity: i64,
    /// Sum of their totals in cents (orders without a total count as nothing).
    pub total_cents: i64,
}

/// What the store took in over a period: the nightly summary's content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PeriodSummary {
    /// Per customer, by customer id.
    pub customers: Vec<CustomerTotals>,
    /// Rejections recorded.
    pub rejections: i64,
}

/// What processing one mail decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An order to store.
    Order(NewOrder),
    /// A rejection to record.
    Rejected(NewRejection),
}

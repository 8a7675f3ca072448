//! Processing one mail: MIME, attachments, lines, validation → an order or a rejection.

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{
    Encoding, HeaderName, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use super::model::{Decision, NewOrder, NewRejection, OrderLine};
use super::money::parse_cents;
use super::rules::Rules;
use super::table::{Table, read_csv_table, read_xlsx_table};

/// Which kind of order attachment a MIME part is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Csv,
    Xlsx,
}

fn attachment_kind(name: &str, content_type: Option<(&str, Option<&str>)>) -> Option<Kind> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        return Some(Kind::Csv);
    }
    if lower.ends_with(".xlsx") {
        return Some(Kind::Xlsx);
    }
    match content_type {
        Some(("text", Some(sub))) if sub.eq_ignore_ascii_case("csv") => Some(Kind::Csv),
        Some(("application", Some(sub)))
            if sub
                .eq_ignore_ascii_case("vnd.openxmlformats-officedocument.spreadsheetml.sheet") =>
        {
            Some(Kind::Xlsx)
        }
        _ => None,
    }
}

/// Longest SKU accepted: catalog keys are short; a megabyte "SKU" is hostile input.
const MAX_SKU_CHARS: usize = 64;

/// Longest Message-ID accepted, in bytes: RFC 5322's line limit. A longer one is hostile or
/// broken, and no database index takes an unbounded key.
const MAX_MESSAGE_ID_BYTES: usize = 998;

/// Longest subject stored (longer ones are cut, marked with `…`).
const MAX_SUBJECT_CHARS: usize = 500;

/// The Message-ID as sent, without its angle brackets and losing nothing: bytes that are not
/// UTF-8 are written `\xNN` (and a backslash `\\`), so two different IDs never become one
/// key, as they would through a lossy decoding. `None` when the header is missing or blank.
fn message_id_of(message: &Message<'_>) -> Option<String> {
    let header = message
        .headers()
        .iter()
        .find(|h| h.name == HeaderName::MessageId)?;
    let raw = message
        .raw_message()
        .get(header.offset_start as usize..header.offset_end as usize)?;
    // Unfold and trim: the value may continue on indented lines.
    let unfolded: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    let value = unfolded.trim_ascii();
    let id = match (
        value.iter().position(|b| *b == b'<'),
        value.iter().rposition(|b| *b == b'>'),
    ) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value,
    };
    let id = id.trim_ascii();
    if id.is_empty() {
        return None;
    }
    Some(lossless_text(id))
}

/// `bytes` as text: UTF-8 runs as they are, other bytes — and NUL, which no database text
/// column holds — as `\xNN`, backslashes doubled.
fn lossless_text(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(&chunk.valid().replace('\\', "\\\\").replace('\0', "\\x00"));
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02X}"));
        }
    }
    text
}

/// The bytes of an attachment as sent, transfer encoding undone but no charset applied:
/// mail-parser decodes text parts with their charset and replaces what it cannot decode
/// (or a charset it does not know) with U+FFFD, which would silently alter a SKU.
fn attachment_bytes<'a>(
    message: &'a Message<'_>,
    part: &'a MessagePart<'_>,
) -> Option<std::borrow::Cow<'a, [u8]>> {
    match part.body {
        PartType::Text(_) | PartType::Html(_) => {
            let raw = message
                .raw_message()
                .get(part.offset_body as usize..part.offset_end as usize)?;
            match part.encoding {
                Encoding::Base64 => base64_decode(raw).map(std::borrow::Cow::Owned),
                Encoding::QuotedPrintable => {
                    quoted_printable_decode(raw).map(std::borrow::Cow::Owned)
                }
                Encoding::None => Some(std::borrow::Cow::Borrowed(raw)),
            }
        }
        _ => Some(std::borrow::Cow::Borrowed(part.contents())),
    }
}

/// Collects reasons, keeping the first `max` and counting the rest.
struct Reasons {
    list: Vec<String>,
    max: usize,
    dropped: usize,
}

impl Reasons {
    fn push(&mut self, reason: String) {
        if self.list.len() < self.max {
            self.list.push(reason);
        } else {
            self.dropped += 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty() && self.dropped == 0
    }

    fn finish(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.list.push(format!("… and {} more", self.dropped));
        }
        self.list
    }
}

/// Decides what one mail becomes. Pure and synchronous (CPU-bound: call it off the async
/// threads); never panics on any input.
pub fn process_mail(bytes: &[u8], key: &str, received_at_ms: i64, rules: &Rules) -> Decision {
    decide(bytes, key, received_at_ms, rules, true).unwrap_or_else(|| {
        // Only a call that leaves spreadsheets out stops short; this one reads them.
        Decision::Rejected(NewRejection {
            message_key: key.to_owned(),
            sender: None,
            subject: None,
            received_at_ms,
            reasons: vec!["the spreadsheet was not read".to_owned()],
            trace_id: None,
        })
    })
}

/// Decides what one mail becomes when that is light work, which a caller may do on any
/// thread; `None`, having read nothing more, when the mail carries a spreadsheet (its
/// decompression and XML parsing can take milliseconds, a hostile one far more within its
/// limits): then [`process_mail`] decides, off the async threads. MIME and CSV take
/// microseconds for a small mail.
pub fn process_light_mail(
    bytes: &[u8],
    key: &str,
    received_at_ms: i64,
    rules: &Rules,
) -> Option<Decision> {
    decide(bytes, key, received_at_ms, rules, false)
}

/// [`process_mail`]; with `spreadsheets` false, `None` at the first spreadsheet.
fn decide(
    bytes: &[u8],
    key: &str,
    received_at_ms: i64,
    rules: &Rules,
    spreadsheets: bool,
) -> Option<Decision> {
    let reject = |message_key: String,
                  sender: Option<String>,
                  subject: Option<String>,
                  reasons: Vec<String>| {
        Decision::Rejected(NewRejection {
            message_key,
            sender,
            subject,
            received_at_ms,
            reasons,
            trace_id: None,
        })
    };
    let Some(message) = MessageParser::default().parse(bytes) else {
        return Some(reject(
            key.to_owned(),
            None,
            None,
            vec!["not a readable e-mail message".to_owned()],
        ));
    };
    let subject = message.subject().map(|s| {
        if s.chars().count() > MAX_SUBJECT_CHARS {
            let cut: String = s.chars().take(MAX_SUBJECT_CHARS).collect();
            format!("{cut}…")
        } else {
            s.to_owned()
        }
    });
    let sender = message
        .from()
        .and_then(|from| from.first())
        .and_then(|addr| addr.address())
        .map(|a| a.trim().to_ascii_lowercase());
    let message_id = message_id_of(&message);
    let too_long = message_id
        .as_ref()
        .is_some_and(|id| id.len() > MAX_MESSAGE_ID_BYTES);
    let message_id = message_id.filter(|_| !too_long);
    let message_key = message_id.clone().unwrap_or_else(|| key.to_owned());

    let mut reasons = Reasons {
        list: Vec::new(),
        max: rules.limits().max_reasons.max(1),
        dropped: 0,
    };
    if too_long {
        reasons.push(format!(
            "the Message-ID is longer than {MAX_MESSAGE_ID_BYTES} bytes (the limit of a mail header line)"
        ));
    } else if message_id.is_none() {
        reasons
            .push("the mail has no Message-ID, so it cannot be recorded exactly once".to_owned());
    }
    let customer = match &sender {
        None => {
            reasons.push("the mail has no sender address".to_owned());
            None
        }
        Some(address) => match rules.customer_for(address) {
            Some(customer) => Some(customer.to_owned()),
            None => {
                reasons.push(format!("unknown sender {address}"));
                None
            }
        },
    };

    let limits = rules.limits();
    let mut lines = Vec::new();
    let mut attachments = 0;
    for part in message.attachments() {
        let name = part.attachment_name().unwrap_or("(unnamed)").to_owned();
        let content_type = part.content_type().map(|ct| (ct.ctype(), ct.subtype()));
        let Some(kind) = attachment_kind(&name, content_type) else {
            continue;
        };
        if kind == Kind::Xlsx && !spreadsheets {
            return None;
        }
        attachments += 1;
        let Some(contents) = attachment_bytes(&message, part) else {
            reasons.push(format!(
                "attachment {name} cannot be decoded (broken transfer encoding)"
            ));
            continue;
        };
        let charset = part
            .content_type()
            .and_then(|ct| ct.attribute("charset"))
            .map(str::to_owned);
        if contents.len() > limits.max_attachment_bytes {
            reasons.push(format!(
                "attachment {name} is {} bytes, over the {}-byte limit",
                contents.len(),
                limits.max_attachment_bytes
            ));
            continue;
        }
        let room = limits.max_lines.saturating_sub(lines.len());
        let table = match kind {
            Kind::Csv => read_csv_table(&contents, room, charset.as_deref()),
            Kind::Xlsx => read_xlsx_table(&contents, room, limits.max_xlsx_uncompressed_bytes),
        };
        match table {
            Ok(table) => read_lines(&name, table, rules, &mut lines, &mut reasons),
            Err(problem) if problem.starts_with("has more than") => reasons.push(format!(
                "attachment {name}: the mail has more than {} order lines",
                limits.max_lines
            )),
            Err(problem) => reasons.push(format!("attachment {name} {problem}")),
        }
    }
    if attachments == 0 {
        reasons.push("no order attachment (a .csv or .xlsx file)".to_owned());
    } else if lines.is_empty() && reasons.is_empty() {
        reasons.push("the order attachments hold no order lines".to_owned());
    }

    Some(match (customer, message_id, sender) {
        (Some(customer_id), Some(message_id), Some(sender)) if reasons.is_empty() => {
            Decision::Order(NewOrder {
                message_id,
                customer_id,
                sender,
                subject,
                received_at_ms,
                lines,
            })
        }
        (_, _, sender) => reject(message_key, sender, subject, reasons.finish()),
    })
}

/// Validates the rows of one attachment into order lines.
fn read_lines(
    name: &str,
    table: Table,
    rules: &Rules,
    lines: &mut Vec<OrderLine>,
    reasons: &mut Reasons,
) {
    let column = |wanted: &[&str]| {
        table
            .header
            .iter()
            .position(|h| wanted.iter().any(|w| h.trim().eq_ignore_ascii_case(w)))
    };
    let (Some(sku_col), Some(qty_col)) = (column(&["sku"]), column(&["quantity", "qty"])) else {
        reasons.push(format!(
            "attachment {name} needs a header row with `sku` and `quantity` columns (found: {})",
            table.header.join(", ")
        ));
        return;
    };
    let price_col = column(&["unit_price", "price"]);
    for (line, cells) in table.rows {
        let cell = |i: usize| cells.get(i).map(String::as_str).unwrap_or("").trim();
        let sku = cell(sku_col);
        if sku.is_empty() {
            reasons.push(format!("{name} line {line}: the SKU is empty"));
            continue;
        }
        if sku.chars().count() > MAX_SKU_CHARS {
            reasons.push(format!(
                "{name} line {line}: the SKU is longer than {MAX_SKU_CHARS} characters"
            ));
            continue;
        }
        let quantity = match cell(qty_col).parse::<u32>() {
            Ok(0) => {
                reasons.push(format!("{name} line {line}: quantity must be above zero"));
                continue;
            }
            Ok(q) => q,
            Err(_) => {
                reasons.push(format!(
                    "{name} line {line}: quantity {:?} is not a whole number",
                    cell(qty_col)
                ));
                continue;
            }
        };
        let mut unit_price_cents = match price_col.map(cell).filter(|p| !p.is_empty()) {
            Some(text) => match parse_cents(text) {
                Ok(cents) => Some(cents),
                Err(problem) => {
                    reasons.push(format!("{name} line {line}: {problem}"));
                    continue;
                }
            },
            None => None,
        };
        if let Some(catalog) = rules.catalog() {
            match catalog.lookup(sku) {
                None => {
                    reasons.push(format!("{name} line {line}: unknown SKU {sku:?}"));
                    continue;
                }
                Some(price) => unit_price_cents = unit_price_cents.or(price),
            }
        }
        lines.push(OrderLine {
            sku: sku.to_owned(),
            quantity,
            unit_price_cents,
            attachment: name.to_owned(),
        });
    }
}

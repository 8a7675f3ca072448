//! Building RFC 5322 test mails with attachments.

/// A test mail: headers, a text body and base64 attachments.
///
/// ```
/// let mail = plba_testkit::mail::MailBuilder::new("orders@acme.example", "<1@acme.example>")
///     .subject("Order")
///     .attachment("order.csv", "text/csv", b"sku,quantity\nA,1\n")
///     .build();
/// assert!(String::from_utf8_lossy(&mail).contains("filename=\"order.csv\""));
/// ```
#[derive(Clone, Debug)]
pub struct MailBuilder {
    from: String,
    message_id: Option<String>,
    subject: String,
    body: String,
    attachments: Vec<(String, String, Vec<u8>)>,
}

impl MailBuilder {
    /// A mail from `from` with Message-ID `message_id` (with angle brackets).
    pub fn new(from: &str, message_id: &str) -> Self {
        Self {
            from: from.to_owned(),
            message_id: Some(message_id.to_owned()),
            subject: "Test order".to_owned(),
            body: "See attachment.".to_owned(),
            attachments: Vec::new(),
        }
    }

    /// Without a Message-ID header.
    #[must_use]
    pub fn without_message_id(mut self) -> Self {
        self.message_id = None;
        self
    }

    /// Sets the subject.
    #[must_use]
    pub fn subject(mut self, subject: &str) -> Self {
        subject.clone_into(&mut self.subject);
        self
    }

    /// Adds an attachment.
    #[must_use]
    pub fn attachment(mut self, name: &str, content_type: &str, bytes: &[u8]) -> Self {
        self.attachments
            .push((name.to_owned(), content_type.to_owned(), bytes.to_vec()));
        self
    }

    /// The message bytes (CRLF line ends).
    pub fn build(&self) -> Vec<u8> {
        let boundary = "=_plba_test_boundary";
        let mut out = String::new();
        out.push_str(&format!(
            "From: {}\r\nTo: orders@shop.example\r\nSubject: {}\r\n",
            self.from, self.subject
        ));
        if let Some(id) = &self.message_id {
            out.push_str(&format!("Message-ID: {id}\r\n"));
        }
        out.push_str("Date: Mon, 23 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n");
        if self.attachments.is_empty() {
            out.push_str(&format!(
                "Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
                self.body
            ));
            return out.into_bytes();
        }
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
        ));
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            self.body
        ));
        for (name, content_type, bytes) in &self.attachments {
            out.push_str(&format!(
                "--{boundary}\r\nContent-Type: {content_type}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            ));
            let encoded = base64(bytes);
            for chunk in encoded.as_bytes().chunks(76) {
                out.push_str(std::str::from_utf8(chunk).unwrap());
                out.push_str("\r\n");
            }
        }
        out.push_str(&format!("--{boundary}--\r\n"));
        out.into_bytes()
    }
}

/// What [`order_mix`] generates for one mail, so a check can count the expected outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MixKind {
    /// A valid order from a known customer (three CSV lines).
    Order,
    /// From a sender no customer owns.
    UnknownSender,
    /// No order attachment.
    NoAttachment,
    /// A CSV with a quantity that is not a number.
    InvalidLines,
}

/// The kind of mail `n` of an [`order_mix`]: seven orders in ten, then one of each rejection.
pub fn mix_kind(n: usize) -> MixKind {
    match n % 10 {
        7 => MixKind::UnknownSender,
        8 => MixKind::NoAttachment,
        9 => MixKind::InvalidLines,
        _ => MixKind::Order,
    }
}

/// `count` order mails as a busy mailbox holds them: mostly valid CSV orders from
/// `orders@acme.example` (the customer `"@acme.example"`), some rejections of each kind (see
/// [`mix_kind`]). Message-IDs are `<{tag}-{n}@acme.example>`, so each run can use fresh ones.
///
/// ```
/// let mails = plba_testkit::mail::order_mix(10, "run1");
/// assert_eq!(mails.len(), 10);
/// assert!(String::from_utf8_lossy(&mails[0]).contains("<run1-0@acme.example>"));
/// ```
pub fn order_mix(count: usize, tag: &str) -> Vec<Vec<u8>> {
    (0..count)
        .map(|n| {
            let id = format!("<{tag}-{n}@acme.example>");
            let csv = format!(
                "sku,quantity,unit_price\r\nA-{a},{q},12.50\r\nB-{b},1,99.00\r\nC-7,3,\r\n",
                a = n % 50,
                b = n % 7,
                q = 1 + n % 5
            );
            match mix_kind(n) {
                MixKind::Order => MailBuilder::new("orders@acme.example", &id)
                    .subject(&format!("Order {n}"))
                    .attachment("order.csv", "text/csv", csv.as_bytes()),
                MixKind::UnknownSender => MailBuilder::new("someone@elsewhere.example", &id)
                    .subject(&format!("Order {n}"))
                    .attachment("order.csv", "text/csv", csv.as_bytes()),
                MixKind::NoAttachment => {
                    MailBuilder::new("orders@acme.example", &id).subject(&format!("Question {n}"))
                }
                MixKind::InvalidLines => MailBuilder::new("orders@acme.example", &id)
                    .subject(&format!("Order {n}"))
                    .attachment("order.csv", "text/csv", b"sku,quantity\r\nA-1,many\r\n"),
            }
            .build()
        })
        .collect()
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }
}

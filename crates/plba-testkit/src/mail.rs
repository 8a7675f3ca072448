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

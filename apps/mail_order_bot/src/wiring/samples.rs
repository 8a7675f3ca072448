//! The sample mails shipped with the bot (the embedded demo and the tests use them).

/// `(file name, message)` for every sample in `samples/`, in delivery order.
pub const SAMPLES: &[(&str, &[u8])] = &[
    (
        "01-valid-csv.eml",
        include_bytes!("../../samples/01-valid-csv.eml"),
    ),
    (
        "02-valid-xlsx.eml",
        include_bytes!("../../samples/02-valid-xlsx.eml"),
    ),
    (
        "03-semicolon-windows-1252.eml",
        include_bytes!("../../samples/03-semicolon-windows-1252.eml"),
    ),
    (
        "04-two-attachments.eml",
        include_bytes!("../../samples/04-two-attachments.eml"),
    ),
    (
        "05-unknown-sender.eml",
        include_bytes!("../../samples/05-unknown-sender.eml"),
    ),
    (
        "06-no-attachment.eml",
        include_bytes!("../../samples/06-no-attachment.eml"),
    ),
    (
        "07-invalid-lines.eml",
        include_bytes!("../../samples/07-invalid-lines.eml"),
    ),
    (
        "08-duplicate-of-01.eml",
        include_bytes!("../../samples/08-duplicate-of-01.eml"),
    ),
];

//! The decision for one mail, on the shipped samples and on hostile input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on broken setup

use std::collections::BTreeMap;

use mail_order_bot::{Catalog, Decision, Limits, Rules, SAMPLES, process_light_mail, process_mail};
use plba_testkit::mail::MailBuilder;

fn rules() -> Rules {
    Rules::new(
        BTreeMap::from([
            ("@acme.example".to_owned(), "ACME".to_owned()),
            ("buyer@globex.example".to_owned(), "GLOBEX".to_owned()),
        ]),
        None,
        Limits::default(),
    )
}

fn sample(name: &str) -> &'static [u8] {
    SAMPLES.iter().find(|(n, _)| n.starts_with(name)).unwrap().1
}

fn order(bytes: &[u8], rules: &Rules) -> mail_order_bot::NewOrder {
    match process_mail(bytes, "key", 0, rules) {
        Decision::Order(order) => order,
        Decision::Rejected(rejection) => panic!("rejected: {:?}", rejection.reasons),
    }
}

fn rejection(bytes: &[u8], rules: &Rules) -> Vec<String> {
    match process_mail(bytes, "key", 0, rules) {
        Decision::Rejected(rejection) => rejection.reasons,
        Decision::Order(order) => panic!("became an order: {order:?}"),
    }
}

#[test]
fn valid_samples_become_orders_with_lines_and_totals() {
    let rules = rules();
    let csv = order(sample("01"), &rules);
    assert_eq!(
        (csv.customer_id.as_str(), csv.message_id.as_str()),
        ("ACME", "0001@acme.example")
    );
    let skus: Vec<(&str, u32, Option<i64>)> = csv
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity, l.unit_price_cents))
        .collect();
    assert_eq!(skus, [("A-100", 2, Some(1250)), ("B-200", 1, Some(9900))]);
    assert_eq!(csv.total_cents(), Some(12400));

    let xlsx = order(sample("02"), &rules);
    assert_eq!(xlsx.customer_id, "GLOBEX");
    let skus: Vec<(&str, u32, Option<i64>)> = xlsx
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity, l.unit_price_cents))
        .collect();
    assert_eq!(skus, [("C-300", 5, Some(320)), ("A-100", 1, Some(1250))]);
    assert_eq!(xlsx.total_cents(), Some(2850));

    let legacy = order(sample("03"), &rules);
    assert_eq!(legacy.lines.len(), 2);
    assert_eq!(legacy.lines[0].unit_price_cents, Some(475), "decimal comma");
    assert_eq!(legacy.total_cents(), Some(3 * 475 + 10 * 99));

    let two = order(sample("04"), &rules);
    let parts: Vec<(&str, &str, u32)> = two
        .lines
        .iter()
        .map(|l| (l.attachment.as_str(), l.sku.as_str(), l.quantity))
        .collect();
    assert_eq!(
        parts,
        [("part-1.csv", "A-100", 4), ("part-2.xlsx", "B-200", 2)]
    );
    assert_eq!(two.total_cents(), None, "no prices given");
    assert_eq!(two.total_quantity(), 6);

    assert_eq!(
        order(sample("08"), &rules).message_id,
        csv.message_id,
        "the duplicate carries the same Message-ID"
    );
}

#[test]
fn invalid_samples_are_rejected_with_every_reason() {
    let rules = rules();
    assert_eq!(
        rejection(sample("05"), &rules),
        ["unknown sender someone@unknown.example"]
    );
    assert_eq!(
        rejection(sample("06"), &rules),
        ["no order attachment (a .csv or .xlsx file)"]
    );
    assert_eq!(
        rejection(sample("07"), &rules),
        [
            "broken.csv line 2: quantity must be above zero",
            "broken.csv line 3: quantity \"many\" is not a whole number",
            "broken.csv line 4: the SKU is empty",
            "broken.csv line 5: \"free\" is not a price (use 12.50)",
        ]
    );
}

#[test]
fn a_catalog_rejects_unknown_skus_and_fills_prices() {
    let catalog = Catalog::new([("A-100".to_owned(), Some(1000)), ("B-200".to_owned(), None)]);
    let rules = Rules::new(
        BTreeMap::from([("@acme.example".to_owned(), "ACME".to_owned())]),
        Some(catalog),
        Limits::default(),
    );
    let mail = MailBuilder::new("orders@acme.example", "<c@acme.example>")
        .attachment("o.csv", "text/csv", b"sku,quantity\na-100,2\nZ-9,1\n")
        .build();
    assert_eq!(
        rejection(&mail, &rules),
        ["o.csv line 3: unknown SKU \"Z-9\""]
    );
    let mail = MailBuilder::new("orders@acme.example", "<d@acme.example>")
        .attachment("o.csv", "text/csv", b"sku,quantity\na-100,2\n")
        .build();
    assert_eq!(order(&mail, &rules).lines[0].unit_price_cents, Some(1000));
}

fn acme(attachment: (&str, &str, &[u8])) -> Vec<u8> {
    MailBuilder::new("orders@acme.example", "<hostile@acme.example>")
        .attachment(attachment.0, attachment.1, attachment.2)
        .build()
}

#[test]
fn hostile_input_is_a_clean_rejection() {
    let rules = rules();

    let truncated = &sample("01")[..300];
    let reasons = rejection(truncated, &rules);
    assert!(
        !reasons.is_empty(),
        "a truncated mail is rejected, not accepted half"
    );

    let limits = Limits {
        max_attachment_bytes: 1024,
        ..Limits::default()
    };
    let small = Rules::new(
        BTreeMap::from([("@acme.example".to_owned(), "ACME".to_owned())]),
        None,
        limits,
    );
    let big = vec![b'x'; 4096];
    assert_eq!(
        rejection(&acme(("big.csv", "text/csv", &big)), &small),
        ["attachment big.csv is 4096 bytes, over the 1024-byte limit"]
    );

    let mut million = String::from("sku,quantity\n");
    for i in 0..1_000_000 {
        million.push_str(&format!("S{i},1\n"));
    }
    // Over the default 5 MiB attachment limit already…
    assert_eq!(
        rejection(&acme(("huge.csv", "text/csv", million.as_bytes())), &rules),
        ["attachment huge.csv is 9888903 bytes, over the 5242880-byte limit"]
    );
    // …and with a generous size limit, the line limit stops the read early.
    let roomy = Rules::new(
        BTreeMap::from([("@acme.example".to_owned(), "ACME".to_owned())]),
        None,
        Limits {
            max_attachment_bytes: 64 * 1024 * 1024,
            ..Limits::default()
        },
    );
    assert_eq!(
        rejection(&acme(("huge.csv", "text/csv", million.as_bytes())), &roomy),
        ["attachment huge.csv: the mail has more than 10000 order lines"]
    );

    let binary: Vec<u8> = (0..=255u8).cycle().take(2048).collect();
    assert_eq!(
        rejection(&acme(("image.csv", "text/csv", &binary)), &rules),
        ["attachment image.csv is not a text file (it contains NUL bytes)"]
    );

    let bomb = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/zip-bomb.xlsx"
    ))
    .unwrap();
    let reasons = rejection(
        &acme(("bomb.xlsx", "application/octet-stream", &bomb)),
        &rules,
    );
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].contains("expands to more than 52428800 bytes"),
        "{reasons:?}"
    );

    let not_xlsx = rejection(
        &acme(("fake.xlsx", "application/octet-stream", b"just text")),
        &rules,
    );
    assert!(
        not_xlsx[0].starts_with("attachment fake.xlsx is not an XLSX file"),
        "{not_xlsx:?}"
    );

    // Invalid UTF-8 is read as Windows-1252: a line with a broken SKU is still a clean outcome.
    let latin = rejection(
        &acme(("l.csv", "text/csv", b"sku,quantity\nA\xff,zero\n")),
        &rules,
    );
    assert_eq!(
        latin,
        ["l.csv line 2: quantity \"zero\" is not a whole number"]
    );

    let no_id = MailBuilder::new("orders@acme.example", "<x>")
        .without_message_id()
        .attachment("o.csv", "text/csv", b"sku,quantity\nA,1\n")
        .build();
    assert_eq!(
        rejection(&no_id, &rules),
        ["the mail has no Message-ID, so it cannot be recorded exactly once"]
    );

    assert_eq!(rejection(b"", &rules).len(), 1);
    assert!(!rejection(b"\x00\x01\x02garbage", &rules).is_empty());
    let header_only = rejection(&acme(("h.csv", "text/csv", b"sku,quantity\n")), &rules);
    assert_eq!(header_only, ["the order attachments hold no order lines"]);
    let no_columns = rejection(&acme(("n.csv", "text/csv", b"item,count\nA,1\n")), &rules);
    assert!(
        no_columns[0].contains("needs a header row with `sku` and `quantity`"),
        "{no_columns:?}"
    );
}

#[test]
fn a_sparse_xlsx_costs_what_it_holds_not_what_it_spans() {
    let rules = rules();
    // A1 and XFD1048576 alone: a dense range would be 17 billion cells (calamine's range
    // allocation of 512 GiB aborted the process, on every restart).
    let far_corner = plba_testkit::xlsx::xlsx(&[("A1", "sku"), ("XFD1048576", "x")]);
    let reasons = rejection(
        &acme(("corner.xlsx", "application/octet-stream", &far_corner)),
        &rules,
    );
    assert_eq!(
        reasons,
        [
            "attachment corner.xlsx has a value in column 16384 of row 1048576; an order sheet uses at most the first 64 columns"
        ]
    );
    // Far down in an allowed column: refused by the line limit, not read to the end.
    let far_down = plba_testkit::xlsx::xlsx(&[
        ("A1", "sku"),
        ("B1", "quantity"),
        ("A2", "A-1"),
        ("B2", "1"),
        ("Z1048576", "x"),
    ]);
    let small = Rules::new(
        BTreeMap::from([("@acme.example".to_owned(), "ACME".to_owned())]),
        None,
        Limits {
            max_lines: 1,
            ..Limits::default()
        },
    );
    assert_eq!(
        rejection(
            &acme(("down.xlsx", "application/octet-stream", &far_down)),
            &small
        ),
        ["attachment down.xlsx: the mail has more than 1 order lines"]
    );
    // Gaps are fine: the lines keep the row numbers the customer sees.
    let gappy = plba_testkit::xlsx::xlsx(&[
        ("A1", "sku"),
        ("C1", "quantity"),
        ("A5", "A-1"),
        ("C5", "3"),
    ]);
    let placed = order(
        &acme(("gaps.xlsx", "application/octet-stream", &gappy)),
        &rules,
    );
    assert_eq!(placed.lines.len(), 1);
    assert_eq!(
        (placed.lines[0].sku.as_str(), placed.lines[0].quantity),
        ("A-1", 3)
    );
}

/// A mail whose Message-ID header holds `id` as raw bytes (which need not be UTF-8).
fn with_raw_message_id(id: &[u8]) -> Vec<u8> {
    let mail = MailBuilder::new("orders@acme.example", "<PLACEHOLDER>")
        .attachment("o.csv", "text/csv", b"sku,quantity\nA-1,1\n")
        .build();
    let at = mail
        .windows(b"<PLACEHOLDER>".len())
        .position(|w| w == b"<PLACEHOLDER>")
        .unwrap();
    let mut patched = mail[..at].to_vec();
    patched.extend_from_slice(id);
    patched.extend_from_slice(&mail[at + b"<PLACEHOLDER>".len()..]);
    patched
}

#[test]
fn message_ids_that_differ_in_bytes_stay_different() {
    let rules = rules();
    let ff = order(&with_raw_message_id(b"<dup\xff@rt>"), &rules);
    let fe = order(&with_raw_message_id(b"<dup\xfe@rt>"), &rules);
    assert_ne!(
        ff.message_id, fe.message_id,
        "no lossy decoding merges them"
    );
    assert_eq!(ff.message_id, "dup\\xFF@rt");
    // A backslash in a real ID cannot pose as an escaped byte.
    let literal = order(&with_raw_message_id(b"<dup\\xFF@rt>"), &rules);
    assert_ne!(literal.message_id, ff.message_id);
    // Plain IDs are kept as they are (what earlier versions stored).
    assert_eq!(order(sample("01"), &rules).message_id, "0001@acme.example");
    // A quoted local part is a Message-ID, not a missing one.
    let quoted = order(&with_raw_message_id(b"<\"order 7\"@shop.example>"), &rules);
    assert_eq!(quoted.message_id, "\"order 7\"@shop.example");
    // NUL, which no database text column holds, is escaped like a stray byte.
    let nul = order(&with_raw_message_id(b"<nul\0byte@rt>"), &rules);
    assert_eq!(nul.message_id, "nul\\x00byte@rt");
}

#[test]
fn an_overlong_message_id_is_rejected_not_stored() {
    let rules = rules();
    let mut id = b"<".to_vec();
    id.extend(std::iter::repeat_n(b'x', 3_000));
    id.extend_from_slice(b"@rt>");
    let reasons = rejection(&with_raw_message_id(&id), &rules);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("Message-ID is longer than 998 bytes")),
        "{reasons:?}"
    );
}

#[test]
fn a_declared_charset_is_honoured_and_undecodable_text_is_refused() {
    let rules = rules();
    // "テスト-1" in Shift_JIS.
    let sjis = b"sku,quantity\n\x83\x65\x83\x58\x83\x67-1,2\n";
    let placed = order(
        &acme(("o.csv", "text/csv; charset=Shift_JIS", sjis)),
        &rules,
    );
    assert_eq!(placed.lines[0].sku, "テスト-1");
    let broken = rejection(
        &acme((
            "o.csv",
            "text/csv; charset=utf-8",
            b"sku,quantity\nA\xff-1,2\n",
        )),
        &rules,
    );
    assert_eq!(
        broken,
        ["attachment o.csv is not valid UTF-8 text, as its charset declares"]
    );
    let unknown = rejection(
        &acme((
            "o.csv",
            "text/csv; charset=x-martian",
            b"sku,quantity\nA-1,2\n",
        )),
        &rules,
    );
    assert_eq!(
        unknown,
        ["attachment o.csv declares the unknown charset \"x-martian\""]
    );
}

#[test]
fn an_overlong_sku_is_refused() {
    let long = format!("sku,quantity\n{},1\n", "S".repeat(5_000));
    assert_eq!(
        rejection(&acme(("o.csv", "text/csv", long.as_bytes())), &rules()),
        ["o.csv line 2: the SKU is longer than 64 characters"]
    );
}

#[test]
fn a_mail_with_a_spreadsheet_is_not_light_work() {
    let rules = rules();
    let light = |mail: &[u8]| process_light_mail(mail, "key", 0, &rules);
    let csv = acme(("o.csv", "text/csv", b"sku,quantity\nA-1,2\n"));
    assert_eq!(light(&csv), Some(process_mail(&csv, "key", 0, &rules)));
    assert!(
        light(b"not a mail at all").is_some(),
        "its rejection is light"
    );
    // By name or by type alone, whatever the bytes: a spreadsheet is read where work may
    // block, and process_mail reads it.
    for spreadsheet in [
        acme(("o.xlsx", "application/octet-stream", b"PK")),
        acme((
            "order",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            b"PK",
        )),
    ] {
        assert_eq!(light(&spreadsheet), None);
        assert!(matches!(
            process_mail(&spreadsheet, "key", 0, &rules),
            Decision::Rejected(_)
        ));
    }
}

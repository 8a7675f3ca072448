//! Minimal XLSX workbooks built in the test: one sheet, the cells given, nothing else. Enough
//! for calamine (and spreadsheet programs) to open, small enough to build hostile shapes.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Orders" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;

/// An XLSX file whose first sheet holds `cells`: `(reference, value)` pairs such as
/// `("A1", "sku")` or `("XFD1048576", "x")`, in row order. Values that parse as numbers are
/// written as numbers, the rest as inline strings.
pub fn xlsx(cells: &[(&str, &str)]) -> Vec<u8> {
    let mut rows: Vec<(u32, String)> = Vec::new();
    for (reference, value) in cells {
        let row: u32 = reference
            .trim_start_matches(|c: char| c.is_ascii_alphabetic())
            .parse()
            .expect("a cell reference like B7");
        let cell = if value.parse::<f64>().is_ok() {
            format!(r#"<c r="{reference}"><v>{value}</v></c>"#)
        } else {
            format!(r#"<c r="{reference}" t="inlineStr"><is><t>{value}</t></is></c>"#)
        };
        match rows.last_mut() {
            Some((last, xml)) if *last == row => xml.push_str(&cell),
            _ => rows.push((row, cell)),
        }
    }
    let data: String = rows
        .iter()
        .map(|(row, xml)| format!(r#"<row r="{row}">{xml}</row>"#))
        .collect();
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#
    );
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, text) in [
        ("[Content_Types].xml", CONTENT_TYPES),
        ("_rels/.rels", ROOT_RELS),
        ("xl/workbook.xml", WORKBOOK),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
        ("xl/worksheets/sheet1.xml", sheet.as_str()),
    ] {
        zip.start_file(name, stored).expect("zip entry");
        zip.write_all(text.as_bytes()).expect("zip write");
    }
    zip.finish().expect("zip finish").into_inner()
}

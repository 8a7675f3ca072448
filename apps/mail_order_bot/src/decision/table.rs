//! Attachments as tables of text cells: CSV (any of the accepted encodings) and XLSX.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

/// A header row and numbered data rows (numbers as the customer sees them: the header is
/// line 1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Table {
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<(usize, Vec<String>)>,
}

/// Decodes CSV text. With a declared charset (`text/csv; charset=Shift_JIS`), exactly that
/// charset: text that is not valid in it is refused, never altered. Without one: UTF-8 with or
/// without BOM, else Windows-1252 (what spreadsheet programs on Windows write). Binary content
/// is refused.
fn decode_text(bytes: &[u8], charset: Option<&str>) -> Result<String, String> {
    if bytes.contains(&0) {
        return Err("is not a text file (it contains NUL bytes)".to_owned());
    }
    if let Some(label) = charset {
        let encoding = encoding_rs::Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| format!("declares the unknown charset {label:?}"))?;
        let bytes = if encoding == encoding_rs::UTF_8 {
            bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
        } else {
            bytes
        };
        return encoding
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(std::borrow::Cow::into_owned)
            .ok_or_else(|| {
                format!(
                    "is not valid {} text, as its charset declares",
                    encoding.name()
                )
            });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(_) => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            Ok(text.into_owned())
        }
    }
}

/// `;` when the header line has more semicolons than commas, else `,`.
fn delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or_default();
    if header.matches(';').count() > header.matches(',').count() {
        b';'
    } else {
        b','
    }
}

thread_local! {
    /// CSV readers for the two delimiters, made once per thread: making one builds its state
    /// machine, which cost more than reading a small attachment (5 % of a busy bot's time).
    /// Each is lent to one attachment at a time and reset when given back; a reader's clone
    /// does not carry the state machine it was built with, so readers are lent, not copied.
    static CSV_READERS: RefCell<[Option<csv_core::Reader>; 2]> = const { RefCell::new([None, None]) };
}

/// The records of CSV `text` with `delimiter`, each as its cells (quotes removed, not yet
/// trimmed); blank lines are skipped and a record may have any number of cells.
struct Records<'a> {
    reader: Option<csv_core::Reader>,
    slot: usize,
    input: &'a [u8],
    output: Vec<u8>,
    ends: Vec<usize>,
    done: bool,
}

impl<'a> Records<'a> {
    fn new(text: &'a str, delimiter: u8) -> Self {
        let slot = usize::from(delimiter == b';');
        let lent = CSV_READERS.with(|readers| readers.borrow_mut()[slot].take());
        let reader =
            lent.unwrap_or_else(|| csv_core::ReaderBuilder::new().delimiter(delimiter).build());
        Self {
            reader: Some(reader),
            slot,
            input: text.as_bytes(),
            output: vec![0; 256],
            ends: vec![0; 16],
            done: false,
        }
    }
}

impl Drop for Records<'_> {
    fn drop(&mut self) {
        if let Some(mut reader) = self.reader.take() {
            reader.reset();
            let slot = self.slot;
            CSV_READERS.with(|readers| readers.borrow_mut()[slot] = Some(reader));
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Vec<String>;

    fn next(&mut self) -> Option<Vec<String>> {
        use csv_core::ReadRecordResult;
        let reader = self.reader.as_mut()?;
        let (mut written, mut fields) = (0, 0);
        while !self.done {
            // An empty input tells the reader the text ended (it then ends its last record).
            let (result, read, wrote, ended) = reader.read_record(
                self.input,
                &mut self.output[written..],
                &mut self.ends[fields..],
            );
            self.input = &self.input[read..];
            // The reader counts field ends from the record's start, across calls.
            written += wrote;
            fields += ended;
            match result {
                ReadRecordResult::InputEmpty => {}
                // Bounded by the attachment: a record is no larger than the text it is in.
                ReadRecordResult::OutputFull => {
                    self.output.resize(self.output.len() * 2, 0);
                }
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record => {
                    let mut start = 0;
                    let cells = self.ends[..fields]
                        .iter()
                        .map(|&end| {
                            let cell = String::from_utf8_lossy(&self.output[start..end]);
                            start = end;
                            cell.into_owned()
                        })
                        .collect();
                    return Some(cells);
                }
                ReadRecordResult::End => self.done = true,
            }
        }
        None
    }
}

/// Reads a CSV attachment, stopping (with an error) past `max_rows` data rows, so a huge
/// file costs bounded memory.
pub(super) fn read_csv_table(
    bytes: &[u8],
    max_rows: usize,
    charset: Option<&str>,
) -> Result<Table, String> {
    let text = decode_text(bytes, charset)?;
    let mut records = Records::new(&text, delimiter(&text));
    let header = match records.next() {
        Some(record) => record.iter().map(|c| c.trim().to_owned()).collect(),
        None => return Err("is empty".to_owned()),
    };
    let mut rows = Vec::new();
    for (index, record) in records.enumerate() {
        let line = index + 2;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if rows.len() == max_rows {
            return Err(format!("has more than {max_rows} order lines"));
        }
        rows.push((line, record.iter().map(|c| c.trim().to_owned()).collect()));
    }
    Ok(Table { header, rows })
}

/// Checks an XLSX (zip) archive's declared sizes before anything is decompressed: the sum
/// of uncompressed sizes is bounded, so a zip bomb is refused without being inflated.
fn guard_zip(bytes: &[u8], max_uncompressed: u64) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("is not an XLSX file: {e}"))?;
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| format!("is not an XLSX file: {e}"))?;
        total = total.saturating_add(entry.size());
        if total > max_uncompressed {
            return Err(format!(
                "expands to more than {max_uncompressed} bytes (a zip bomb, or far too large)"
            ));
        }
    }
    Ok(())
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// The widest order sheet read: orders use the first few columns. A value further right is
/// refused rather than padded, so no sheet costs memory by its dimensions.
const MAX_XLSX_COLUMNS: u32 = 64;

/// Reads the first sheet of an XLSX attachment, cell by cell.
///
/// Memory is bounded by what the sheet holds, not by the range it declares or spans: cells
/// are streamed from the sheet XML (never materialised as a dense range, which for a sheet
/// with only A1 and XFD1048576 would be 17 billion cells), only non-empty cells are kept, and
/// reading stops at the first cell beyond [`MAX_XLSX_COLUMNS`] or past `max_rows` lines. With
/// the zip guard bounding the decompressed size, one attachment costs at most about
/// `max_uncompressed` plus `(max_rows + 1) × MAX_XLSX_COLUMNS` cells.
pub(super) fn read_xlsx_table(
    bytes: &[u8],
    max_rows: usize,
    max_uncompressed: u64,
) -> Result<Table, String> {
    guard_zip(bytes, max_uncompressed)?;
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("is not a readable XLSX file: {e}"))?;
    let first = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| "has no worksheet".to_owned())?;
    let mut cells = workbook
        .worksheet_cells_reader(&first)
        .map_err(|e| format!("has an unreadable first sheet: {e}"))?;
    // Non-empty cells by row, then column; the header and at most `max_rows` lines.
    let mut sheet: BTreeMap<u32, Vec<(u32, String)>> = BTreeMap::new();
    while let Some(cell) = cells
        .next_cell()
        .map_err(|e| format!("has an unreadable first sheet: {e}"))?
    {
        let (row, column) = cell.get_position();
        let text = cell_text(&Data::from(cell.get_value().clone()));
        if text.is_empty() {
            continue;
        }
        if column >= MAX_XLSX_COLUMNS {
            return Err(format!(
                "has a value in column {} of row {}; an order sheet uses at most the first {MAX_XLSX_COLUMNS} columns",
                u64::from(column) + 1,
                u64::from(row) + 1
            ));
        }
        if !sheet.contains_key(&row) && sheet.len() > max_rows {
            return Err(format!("has more than {max_rows} order lines"));
        }
        sheet.entry(row).or_default().push((column, text));
    }
    let mut rows = sheet.into_iter();
    let Some((_, header)) = rows.next() else {
        return Err("has an empty first sheet".to_owned());
    };
    Ok(Table {
        header: dense(header),
        rows: rows
            .map(|(row, cells)| {
                (
                    usize::try_from(row).unwrap_or(usize::MAX).saturating_add(1),
                    dense(cells),
                )
            })
            .collect(),
    })
}

/// A row's cells by position, empty strings in the gaps (columns are bounded, so the gaps are).
fn dense(cells: Vec<(u32, String)>) -> Vec<String> {
    let width = cells
        .iter()
        .map(|(c, _)| *c as usize + 1)
        .max()
        .unwrap_or(0);
    let mut row = vec![String::new(); width];
    for (column, text) in cells {
        row[column as usize] = text;
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bom_semicolons_and_windows_1252() {
        let table = read_csv_table(b"\xEF\xBB\xBFsku;quantity\nA-1;2\n\n", 10, None).unwrap();
        assert_eq!(table.header, ["sku", "quantity"]);
        assert_eq!(
            table.rows,
            vec![(2, vec!["A-1".to_owned(), "2".to_owned()])]
        );
        // "Café" in Windows-1252: 0xE9 is not valid UTF-8 on its own.
        let table = read_csv_table(b"sku,quantity,note\nCAF\xC9,1,caf\xE9\n", 10, None).unwrap();
        assert_eq!(table.rows[0].1[2], "café");
    }

    #[test]
    fn csv_records_longer_than_the_buffers_and_quoted_cells_read_whole() {
        let long = "x".repeat(1000);
        let cells: Vec<String> = (0..40).map(|n| format!("c{n}")).collect();
        let text = format!(
            "sku,quantity,note\nA-1,2,\"{long}, quoted \"\"here\"\"\"\n{}\n",
            cells.join(",")
        );
        for _ in 0..2 {
            let table = read_csv_table(text.as_bytes(), 10, None).unwrap();
            assert_eq!(table.rows[0].1[2], format!("{long}, quoted \"here\""));
            assert_eq!(
                table.rows[1].1, cells,
                "a reader given back reads the next one from the start"
            );
        }
    }

    #[test]
    fn csv_limits_and_binary() {
        let err = read_csv_table(b"sku,quantity\na,1\nb,1\nc,1\n", 2, None).unwrap_err();
        assert_eq!(err, "has more than 2 order lines");
        assert!(
            read_csv_table(b"sku\x00,quantity\n", 10, None)
                .unwrap_err()
                .contains("not a text file")
        );
        assert_eq!(read_csv_table(b"", 10, None).unwrap_err(), "is empty");
    }

    #[test]
    fn a_zip_that_is_not_an_xlsx_is_refused_cleanly() {
        assert!(
            read_xlsx_table(b"PK\x03\x04garbage", 10, 1000)
                .unwrap_err()
                .contains("not an XLSX file")
        );
        assert!(
            read_xlsx_table(b"plain text", 10, 1000)
                .unwrap_err()
                .contains("not an XLSX file")
        );
    }
}

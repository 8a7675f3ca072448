//! What the bot knows before reading a mail: customers, catalog, limits.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use super::money::parse_cents;
use super::table::{Table, read_csv_table};
use crate::error::DomainError;

/// The largest catalog file read: a million SKUs with prices is about 30 MB, and a path
/// naming something endless must not fill the start-up.
const CATALOG_FILE_BYTES: u64 = 64 << 20;

/// Limits that keep hostile or broken mail from costing unbounded time or memory (the
/// `limits` keys of the configuration).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest order attachment, in bytes (after decoding).
    pub max_attachment_bytes: usize,
    /// Most order lines in one mail (all attachments together).
    pub max_lines: usize,
    /// Largest uncompressed size of an XLSX file's parts, in bytes (zip-bomb guard).
    pub max_xlsx_uncompressed_bytes: u64,
    /// Most reasons listed in one rejection (the rest are counted).
    pub max_reasons: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attachment_bytes: 5 * 1024 * 1024,
            max_lines: 10_000,
            max_xlsx_uncompressed_bytes: 50 * 1024 * 1024,
            max_reasons: 20,
        }
    }
}

/// Known SKUs with their catalog price, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    prices: HashMap<String, Option<i64>>,
}

impl Catalog {
    /// A catalog of these SKUs and prices.
    pub fn new(entries: impl IntoIterator<Item = (String, Option<i64>)>) -> Self {
        Self {
            prices: entries
                .into_iter()
                .map(|(sku, price)| (sku.to_ascii_uppercase(), price))
                .collect(),
        }
    }

    /// Reads a catalog CSV (`sku` column, optional `unit_price`), at most
    /// 64 MiB of it.
    pub fn load(path: &Path) -> Result<Self, DomainError> {
        let bytes = plba_util::read_limited(path, CATALOG_FILE_BYTES).map_err(|e| {
            DomainError::Catalog {
                path: path.to_owned(),
                what: "cannot read it".to_owned(),
                source: Some(e),
            }
        })?;
        let catalog_error = |what: String| DomainError::Catalog {
            path: path.to_owned(),
            what,
            source: None,
        };
        let table = read_csv_table(&bytes, 1_000_000, None).map_err(catalog_error)?;
        let Table { header, rows, .. } = table;
        let column = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
        let sku = column("sku").ok_or_else(|| catalog_error("no `sku` column".to_owned()))?;
        let price = column("unit_price");
        let mut entries = Vec::new();
        for (number, row) in rows {
            let Some(code) = row.get(sku).map(|s| s.trim()).filter(|s| !s.is_empty()) else {
                continue;
            };
            let unit_price = match price
                .and_then(|p| row.get(p))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
            {
                Some(text) => Some(
                    parse_cents(text).map_err(|e| catalog_error(format!("line {number}: {e}")))?,
                ),
                None => None,
            };
            entries.push((code.to_owned(), unit_price));
        }
        Ok(Self::new(entries))
    }

    /// Whether `sku` is known, and its price.
    pub fn lookup(&self, sku: &str) -> Option<Option<i64>> {
        self.prices.get(&sku.to_ascii_uppercase()).copied()
    }
}

/// Everything processing a mail needs besides the mail.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    customers: BTreeMap<String, String>,
    catalog: Option<Catalog>,
    limits: Limits,
}

impl Rules {
    /// Rules from explicit parts.
    pub fn new(
        customers: BTreeMap<String, String>,
        catalog: Option<Catalog>,
        limits: Limits,
    ) -> Self {
        let customers = customers
            .into_iter()
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v))
            .collect();
        Self {
            customers,
            catalog,
            limits,
        }
    }

    /// The customer of a sender address: exact address first, then `@domain`.
    pub fn customer_for(&self, address: &str) -> Option<&str> {
        let address = address.trim().to_ascii_lowercase();
        if let Some(customer) = self.customers.get(&address) {
            return Some(customer);
        }
        let domain = address.rsplit_once('@')?.1;
        self.customers
            .get(&format!("@{domain}"))
            .map(String::as_str)
    }

    /// The catalog, when configured.
    pub fn catalog(&self) -> Option<&Catalog> {
        self.catalog.as_ref()
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_address_wins_over_its_domain() {
        let customers = BTreeMap::from([
            ("@acme.example".to_owned(), "ACME".to_owned()),
            ("Boss@Acme.example".to_owned(), "ACME-HQ".to_owned()),
        ]);
        let rules = Rules::new(customers, None, Limits::default());
        assert_eq!(rules.customer_for("orders@acme.example"), Some("ACME"));
        assert_eq!(rules.customer_for("boss@ACME.example"), Some("ACME-HQ"));
        assert_eq!(rules.customer_for("x@evil.example"), None);
        assert_eq!(rules.customer_for("no-at-sign"), None);
    }
}

//! YAML parsing that counts what aliases expand to and stops at a budget.
//!
//! The YAML parser bounds how many aliases it follows, not how many bytes they add: one 1 MB
//! anchored value referenced 2,000 times is a 1 MB file that expands to 2 GB. The parser
//! replays an anchored value's events for each alias, so building the value through a
//! counting visitor stops the expansion as soon as the budget is spent, before the memory is.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_yaml::{Mapping, Value};

/// What each value costs besides its text: about the punctuation and indentation it takes
/// written out, so the count tracks the size of the document without aliases.
const PER_VALUE: u64 = 8;

/// Most values all sources may hold together. Each value costs a few hundred bytes on its
/// way through the parser and the merge, so this, not the byte budget, bounds the memory a
/// document of many tiny values (`[1,1,1,…]`) takes; an allowlist of 200,000 customers is
/// 400,000 values.
pub(crate) const MAX_VALUES: u64 = 500_000;

/// Deepest nesting of YAML brackets (`[`, `{`) accepted. The parser handles each token in
/// time proportional to the depth, so a few megabytes of open brackets would take hours;
/// its own limit on nesting (128) is only checked after it has read them all.
pub(crate) const MAX_BRACKET_DEPTH: usize = 512;

/// What remains of the bytes all sources of one configuration may expand to.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    left: Cell<u64>,
    values_left: Cell<u64>,
    spent_out: Cell<Option<Exceeded>>,
}

/// Which limit a document went past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// The bytes it expands to.
    Bytes,
    /// The number of values.
    Values,
    /// The nesting of brackets.
    Depth,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            left: Cell::new(limit),
            values_left: Cell::new(MAX_VALUES),
            spent_out: Cell::new(None),
        }
    }

    /// The budget's limit, for the error that names it.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Spends `bytes` of text taken as is (not parsed); false when that exceeds the budget.
    pub(crate) fn charge(&self, bytes: usize) -> bool {
        self.spend::<serde_yaml::Error>(bytes).is_ok()
    }

    fn spend<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        let cost = (bytes as u64).saturating_add(PER_VALUE);
        let Some(values_left) = self.values_left.get().checked_sub(1) else {
            return Err(self.exceeded(Exceeded::Values));
        };
        let Some(left) = self.left.get().checked_sub(cost) else {
            return Err(self.exceeded(Exceeded::Bytes));
        };
        self.values_left.set(values_left);
        self.left.set(left);
        Ok(())
    }

    fn exceeded<E: de::Error>(&self, which: Exceeded) -> E {
        self.spent_out.set(Some(which));
        E::custom("the configuration goes past a limit")
    }
}

/// Why a document could not be read.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// Not YAML, or a construct a configuration has no use for.
    Syntax(serde_yaml::Error),
    /// A limit was reached: the bytes or values it expands to, or its nesting.
    TooLarge(Exceeded),
}

/// `text` as one YAML value, spending from `budget` for each value it expands to.
pub(crate) fn parse(text: &str, budget: &Budget) -> Result<Value, ParseError> {
    if bracket_depth(text) > MAX_BRACKET_DEPTH {
        return Err(ParseError::TooLarge(Exceeded::Depth));
    }
    let seed = Bounded { budget };
    seed.deserialize(serde_yaml::Deserializer::from_str(text))
        .map_err(|e| match budget.spent_out.get() {
            Some(which) => ParseError::TooLarge(which),
            None => ParseError::Syntax(e),
        })
}

/// The deepest run of open brackets in `text`, counting every `[` and `{` (quoted or not:
/// no configuration holds hundreds of unclosed brackets in its text).
fn bracket_depth(text: &str) -> usize {
    let mut depth = 0_usize;
    let mut deepest = 0;
    for byte in text.bytes() {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[derive(Clone, Copy)]
struct Bounded<'b> {
    budget: &'b Budget,
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::Number(v.into()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.budget.spend(v.len())?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.budget.spend(v.len())?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.budget.spend(0)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.budget.spend(0)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.budget.spend(0)?;
        let mut mapping = Mapping::new();
        while let Some(key) = map.next_key_seed(self)? {
            if mapping.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate entry with key {}",
                    key_text(&key)
                )));
            }
            let value = map.next_value_seed(self)?;
            mapping.insert(key, value);
        }
        Ok(Value::Mapping(mapping))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<Value, A::Error> {
        Err(de::Error::custom(
            "YAML tags (`!name value`) have no meaning in a configuration",
        ))
    }
}

/// A mapping key as an error names it.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(text) => format!("{text:?}"),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => format!("`{flag}`"),
        Value::Null => "null".to_owned(),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => "of a collection".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(text: &str, limit: u64) -> Result<Value, ParseError> {
        parse(text, &Budget::new(limit))
    }

    #[test]
    fn a_document_without_aliases_parses_as_serde_yaml_does() {
        let text = "a: 1\nb: [x, 2.5, true, ~]\nc:\n  d: 'text'\n";
        let expected: Value = serde_yaml::from_str(text).unwrap();
        assert_eq!(parse_with(text, 1 << 20).unwrap(), expected);
    }

    #[test]
    fn aliases_are_counted_each_time_they_are_expanded() {
        let value = "v".repeat(1000);
        let refs = vec!["*a"; 100].join(", ");
        let text = format!("a: &a {value}\nb: [{refs}]\n");
        // Written out, 101 copies of the value: about 101 KB.
        assert!(matches!(
            parse_with(&text, 50_000),
            Err(ParseError::TooLarge(Exceeded::Bytes))
        ));
        let parsed = parse_with(&text, 200_000).unwrap();
        assert_eq!(parsed["b"].as_sequence().unwrap().len(), 100);
    }

    #[test]
    fn nested_aliases_stop_at_the_budget_long_before_their_size() {
        // Few enough aliases for the parser's own repetition limit, each level nine times
        // the one below: 729 copies of a 10 KB value, about 7 MB written out.
        let mut text = format!("l0: &l0 {}\n", "x".repeat(10_000));
        for level in 1..4 {
            let prev = level - 1;
            let refs = vec![format!("*l{prev}"); 9].join(", ");
            text.push_str(&format!("l{level}: &l{level} [{refs}]\n"));
        }
        assert!(matches!(
            parse_with(&text, 1 << 20),
            Err(ParseError::TooLarge(Exceeded::Bytes))
        ));
        assert!(parse_with(&text, 16 << 20).is_ok());
    }

    #[test]
    fn a_budget_is_shared_by_the_documents_it_is_spent_on() {
        let budget = Budget::new(100);
        parse("a: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", &budget).unwrap();
        assert!(matches!(
            parse(
                "b: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n",
                &budget
            ),
            Err(ParseError::TooLarge(Exceeded::Bytes))
        ));
    }

    #[test]
    fn deep_brackets_are_refused_before_the_parser_reads_them() {
        let text = format!("a: {}", "[".repeat(1_000_000));
        assert!(matches!(
            parse_with(&text, 16 << 20),
            Err(ParseError::TooLarge(Exceeded::Depth))
        ));
        let nested = format!("a: {}1{}", "[".repeat(100), "]".repeat(100));
        assert!(parse_with(&nested, 16 << 20).is_ok());
    }

    #[test]
    fn many_tiny_values_are_refused_at_the_value_limit() {
        let count = usize::try_from(MAX_VALUES).unwrap();
        let text = format!("a: [{}]", vec!["1"; count].join(","));
        assert!(matches!(
            parse_with(&text, 1 << 30),
            Err(ParseError::TooLarge(Exceeded::Values))
        ));
        // The mapping, its key and the sequence are values too.
        let text = format!("a: [{}]", vec!["1"; count - 3].join(","));
        assert!(parse_with(&text, 1 << 30).is_ok());
    }

    #[test]
    fn a_duplicate_key_is_an_error() {
        let Err(ParseError::Syntax(e)) = parse_with("a: 1\na: 2\n", 1 << 20) else {
            panic!("a duplicate key was accepted");
        };
        assert!(
            e.to_string().contains("duplicate entry with key \"a\""),
            "{e}"
        );
    }

    #[test]
    fn tags_are_refused_with_a_reason() {
        let Err(ParseError::Syntax(e)) = parse_with("a: !thing 1\n", 1 << 20) else {
            panic!("a tag was accepted");
        };
        assert!(e.to_string().contains("YAML tags"), "{e}");
    }
}

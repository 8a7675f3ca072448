//! The reminder e-mail's subject and body, rendered from the configured templates.

use minijinja::Environment;
use serde::{Deserialize, Serialize};

use crate::error::ReminderError;

/// The reminder e-mail, as minijinja templates over `invoice_id`, `customer`, `amount`,
/// `currency`, `due`, `stage` and `days_overdue`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateConfig {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        Self {
            subject: "Reminder: invoice {{ invoice_id }} is overdue".to_owned(),
            body: "Dear {{ customer }},\n\nour invoice {{ invoice_id }} of {{ amount }} {{ currency }} was due on {{ due }} and is still open.\nPlease pay it at your earliest convenience; if you have paid already, please ignore this reminder.\n\nKind regards\n".to_owned(),
        }
    }
}

/// What a template may use.
#[derive(Debug, Serialize)]
pub(crate) struct ReminderContext<'a> {
    /// The invoice number.
    pub(crate) invoice_id: &'a str,
    /// The customer's name.
    pub(crate) customer: &'a str,
    /// The amount due.
    pub(crate) amount: &'a str,
    /// Its currency.
    pub(crate) currency: &'a str,
    /// When it was due, as announced.
    pub(crate) due: &'a str,
    /// The stage's name.
    pub(crate) stage: &'a str,
    /// Whole days since the due moment.
    pub(crate) days_overdue: i64,
}

/// The compiled templates.
#[derive(Debug)]
pub(crate) struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Compiles both templates; a syntax error names the template.
    pub(crate) fn new(config: &TemplateConfig) -> Result<Self, ReminderError> {
        let mut env = Environment::new();
        // Undefined names are errors, so a misspelt variable fails the configuration check
        // rather than sending an e-mail with a hole in it.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        for (which, text) in [("subject", &config.subject), ("body", &config.body)] {
            env.add_template_owned(which, text.clone())
                .map_err(|source| ReminderError::Template {
                    which,
                    what: "does not compile",
                    source,
                })?;
        }
        let templates = Self { env };
        // Rendered once with sample values: an unknown variable is found now.
        templates.render(&ReminderContext {
            invoice_id: "INV-1",
            customer: "ACME",
            amount: "1.00",
            currency: "EUR",
            due: "2026-01-01",
            stage: "first",
            days_overdue: 1,
        })?;
        Ok(templates)
    }

    /// The subject (on one line, control characters removed) and the body.
    pub(crate) fn render(
        &self,
        context: &ReminderContext<'_>,
    ) -> Result<(String, String), ReminderError> {
        let render = |which: &'static str| {
            self.env
                .get_template(which)
                .and_then(|template| template.render(context))
                .map_err(|source| ReminderError::Template {
                    which,
                    what: "does not render",
                    source,
                })
        };
        let subject = render("subject")?
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_owned();
        Ok((subject, render("body")?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_unknown_variable_fails_at_compile_time() {
        let config = TemplateConfig {
            subject: "Invoice {{ invoice_number }}".into(),
            ..TemplateConfig::default()
        };
        let error = Templates::new(&config).unwrap_err();
        assert!(
            plba_util::error_chain(&error).contains("subject"),
            "{error}"
        );
    }

    #[test]
    fn the_subject_stays_on_one_line() {
        let templates = Templates::new(&TemplateConfig::default()).unwrap();
        let (subject, body) = templates
            .render(&ReminderContext {
                invoice_id: "INV-7\r\nBcc: everyone@example.com",
                customer: "ACME",
                amount: "120.00",
                currency: "EUR",
                due: "2026-12-31",
                stage: "first",
                days_overdue: 3,
            })
            .unwrap();
        assert!(
            !subject.contains('\n') && !subject.contains('\r'),
            "{subject}"
        );
        assert!(body.contains("120.00 EUR"), "{body}");
    }
}

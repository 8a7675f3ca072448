//! Application views: what a module shows an operator in the console, without depending on
//! the console (or the runtime) — a small read model the control plane renders.

use std::sync::Arc;

use serde::Serialize;

/// A table a view answers: column titles, then rows, each with the id that opens it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ViewTable {
    /// Column titles.
    pub columns: Vec<String>,
    /// The rows, newest first.
    pub rows: Vec<ViewRow>,
}

/// One row of a [`ViewTable`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViewRow {
    /// What [`AppView::item`] takes to show this row in detail.
    pub id: String,
    /// One text per column.
    pub cells: Vec<String>,
    /// The trace of the work behind the row, when known: the console links it to the trace.
    pub trace_id: Option<String>,
}

/// Why a view could not answer (its store is down, say). The same shape as the other
/// message errors of the contracts, with the view's name.
#[derive(Debug, thiserror::Error)]
#[error("view {view:?}: {message}")]
pub struct ViewError {
    view: String,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ViewError {
    /// View `view` could not answer: `message` says what failed.
    pub fn new(view: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            view: view.into(),
            message: message.into(),
            source: None,
        }
    }

    /// The same error with `source` as its cause.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The view's name.
    pub fn view(&self) -> &str {
        &self.view
    }

    /// What failed.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A read-only page a module contributes to the operator console (orders, customers, …):
/// searchable rows and one item in detail. Registered with
/// [`Registry::add_view`](crate::Registry::add_view).
///
/// ```
/// use plba_contracts::{AppView, ViewError, ViewRow, ViewTable, async_trait};
///
/// struct Greetings;
///
/// #[async_trait]
/// impl AppView for Greetings {
///     fn name(&self) -> &str { "greetings" }
///     fn title(&self) -> &str { "Greetings" }
///     async fn list(&self, search: &str, limit: usize) -> Result<ViewTable, ViewError> {
///         let rows = ["hello", "hi"]
///             .iter()
///             .filter(|g| g.contains(search))
///             .take(limit)
///             .map(|g| ViewRow { id: g.to_string(), cells: vec![g.to_string()], trace_id: None })
///             .collect();
///         Ok(ViewTable { columns: vec!["greeting".into()], rows })
///     }
///     async fn item(&self, id: &str) -> Result<Option<serde_json::Value>, ViewError> {
///         Ok(Some(serde_json::json!({ "greeting": id })))
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait AppView: Send + Sync + 'static {
    /// The view's name in URLs (`orders`).
    fn name(&self) -> &str;

    /// Its title in the console (`Orders`).
    fn title(&self) -> &str;

    /// Rows matching `search` (free text; empty: all), newest first, at most `limit`.
    async fn list(&self, search: &str, limit: usize) -> Result<ViewTable, ViewError>;

    /// One item in detail, by the id its row carries; `None` when there is none.
    async fn item(&self, id: &str) -> Result<Option<serde_json::Value>, ViewError>;
}

impl std::fmt::Debug for dyn AppView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppView({})", self.name())
    }
}

/// A shared view.
pub type ViewRef = Arc<dyn AppView>;

//! The console pages the application's modules contribute.

use plba_contracts::ViewRef;
use serde_json::{Value, json};

use super::ControlPlaneService;
use crate::api_error::ApiError;
use crate::reply::Reply;

impl ControlPlaneService {
    /// `GET /views`: each page's name and title.
    pub(super) fn views(&self) -> Reply {
        let views: Vec<Value> = self
            .runtime
            .views()
            .iter()
            .map(|v| json!({ "name": v.name(), "title": v.title() }))
            .collect();
        Reply::ok(json!({ "views": views }))
    }

    /// `GET /views/{view}`: rows matching `search`.
    pub(super) async fn view_list(
        &self,
        view: &str,
        search: &str,
        limit: usize,
    ) -> Result<Reply, ApiError> {
        let table = self
            .view(view)?
            .list(search, limit)
            .await
            .map_err(|error| ApiError::ViewUnavailable(plba_util::error_chain(&error)))?;
        Ok(Reply::ok(json!(table)))
    }

    /// `GET /views/{view}/{id}`: one item in detail.
    pub(super) async fn view_item(&self, view: &str, id: &str) -> Result<Reply, ApiError> {
        self.view(view)?
            .item(id)
            .await
            .map_err(|error| ApiError::ViewUnavailable(plba_util::error_chain(&error)))?
            .map(Reply::ok)
            .ok_or_else(|| ApiError::NotFound(format!("no {view} item {id:?}")))
    }

    /// The view an operator names, or the 404 that says which exist.
    fn view(&self, name: &str) -> Result<ViewRef, ApiError> {
        let views = self.runtime.views();
        views
            .iter()
            .find(|v| v.name() == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = views.iter().map(|v| v.name()).collect();
                ApiError::NotFound(format!("no view {name:?} (views: {})", known.join(", ")))
            })
    }
}

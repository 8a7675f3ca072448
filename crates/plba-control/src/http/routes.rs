//! The route table: the paths the server answers, recorded as they are added (each resource's
//! module adds its own) so that a test can hold them against the table in the crate's
//! documentation.

use std::collections::BTreeMap;

use axum::Router;
use axum::handler::Handler;
use axum::http::Uri;
use axum::routing::MethodRouter;
use serde::Deserialize;

use super::extract::Shared;
use crate::api_error::ApiError;

/// Default and largest `limit` of the list endpoints.
const LIMIT_DEFAULT: usize = 50;
const LIMIT_MAX: usize = 1_000;

/// `?limit=N` of the list endpoints: at most [`LIMIT_MAX`], [`LIMIT_DEFAULT`] without it.
#[derive(Debug, Deserialize)]
pub(super) struct LimitQuery {
    // Text, so a bad value is refused with a message of ours rather than serde's.
    limit: Option<String>,
}

impl LimitQuery {
    pub(super) fn limit(&self) -> Result<usize, ApiError> {
        let Some(value) = &self.limit else {
            return Ok(LIMIT_DEFAULT);
        };
        value
            .parse::<usize>()
            .map(|n| n.min(LIMIT_MAX))
            .map_err(|_| ApiError::BadRequest(format!("limit must be a number, not {value:?}")))
    }
}

/// The routes being registered: each path with its method router and its methods.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    paths: BTreeMap<&'static str, (MethodRouter<Shared>, Vec<&'static str>)>,
}

impl RouteTable {
    /// Adds `GET` (and so `HEAD`) `path`.
    pub(super) fn get<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, Shared>,
        T: 'static,
    {
        self.add(path, "GET", |router| router.get(handler))
    }

    /// Adds `POST` `path`.
    pub(super) fn post<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, Shared>,
        T: 'static,
    {
        self.add(path, "POST", |router| router.post(handler))
    }

    fn add(
        mut self,
        path: &'static str,
        method: &'static str,
        with: impl FnOnce(MethodRouter<Shared>) -> MethodRouter<Shared>,
    ) -> Self {
        let (router, methods) = self
            .paths
            .remove(path)
            .unwrap_or_else(|| (MethodRouter::new(), Vec::new()));
        let mut methods = methods;
        methods.push(method);
        self.paths.insert(path, (with(router), methods));
        self
    }

    /// Every `(method, path)` registered, in path order.
    #[cfg(test)]
    pub(crate) fn listed(&self) -> Vec<(&'static str, &'static str)> {
        self.paths
            .iter()
            .flat_map(|(path, (_, methods))| methods.iter().map(move |method| (*method, *path)))
            .collect()
    }

    /// The router: each path answers its methods, another method with a JSON 405 that
    /// names the ones it accepts (and an `Allow` header), an unknown path with a JSON 404.
    pub(super) fn into_router(self, service: Shared) -> Router {
        let mut router = Router::new();
        for (path, (methods_router, methods)) in self.paths {
            let allowed = allowed(&methods);
            router = router.route(
                path,
                methods_router.fallback(move |uri: Uri| async move {
                    ApiError::MethodNotAllowed {
                        path: uri.path().to_owned(),
                        allowed,
                    }
                }),
            );
        }
        router
            .fallback(|uri: Uri| async move {
                ApiError::NotFound(format!("no endpoint {:?}", uri.path()))
            })
            .with_state(service)
    }
}

/// The `Allow` header for a path serving `methods`.
fn allowed(methods: &[&str]) -> &'static str {
    match (methods.contains(&"GET"), methods.contains(&"POST")) {
        (true, true) => "GET, HEAD, POST",
        (true, false) => "GET, HEAD",
        _ => "POST",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The `(method, path)` pairs of the route table in the crate's documentation: its rows
    /// are `//! | METHOD | `path`, `path` | who | answer |`.
    fn documented() -> BTreeSet<(String, String)> {
        include_str!("../lib.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("//! | "))
            .filter_map(|row| {
                let mut cells = row.split(" | ");
                let method = cells.next()?.trim();
                let paths = cells.next()?;
                (method == "GET" || method == "POST").then(|| {
                    paths
                        .split(", ")
                        .map(|p| (method.to_owned(), p.trim().trim_matches('`').to_owned()))
                        .collect::<Vec<_>>()
                })
            })
            .flatten()
            .collect()
    }

    #[test]
    fn every_route_served_is_in_the_documented_table_and_no_other() {
        let served: BTreeSet<(String, String)> = super::super::table()
            .listed()
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        let documented = documented();
        assert!(
            documented.len() > 10,
            "the table was not found: {documented:?}"
        );
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty() && unserved.is_empty(),
            "served but not in the table in lib.rs: {undocumented:?}; in the table but not served: {unserved:?}"
        );
    }

    #[test]
    fn limits_default_cap_and_refuse_what_is_not_a_number() {
        let limit = |v: Option<&str>| LimitQuery {
            limit: v.map(str::to_owned),
        };
        assert_eq!(limit(None).limit(), Ok(LIMIT_DEFAULT));
        assert_eq!(limit(Some("5000")).limit(), Ok(LIMIT_MAX));
        assert_eq!(limit(Some("x")).limit().map_err(|e| e.status()), Err(400));
    }

    #[test]
    fn allow_lists_what_a_path_accepts() {
        assert_eq!(allowed(&["GET"]), "GET, HEAD");
        assert_eq!(allowed(&["POST"]), "POST");
        assert_eq!(allowed(&["GET", "POST"]), "GET, HEAD, POST");
    }
}

//! One webhook request, from its head to its answer: route, method, size, sender, body,
//! idempotency key, then the task on the route's queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use plba_util::Unpoisoned;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use plba_contracts::{Published, Publisher, QueueError, Task, TaskId};

use crate::config::{AuthConfig, RouteConfig, WebhookConfig};
use crate::metrics::{Refusal, RouteSlot, WebhookMetrics};
use crate::signature::{verify_bearer, verify_signature};

/// The longest idempotency key accepted, in bytes.
const MAX_KEY_BYTES: usize = 255;

/// The metadata key under which a task records the route it came in on.
pub const ROUTE_METADATA: &str = "webhook.route";

/// What an application says of a payload before it is published: `Err` with the reason
/// refuses the request (`422`), so a sender learns at once what it must fix.
pub type PayloadCheck = Arc<dyn Fn(&[u8]) -> Result<(), String> + Send + Sync>;

/// A route ready to serve: its configuration, the queue it publishes to, and the
/// application's check of its payloads.
pub(crate) struct Route {
    slot: usize,
    config: RouteConfig,
    publisher: Publisher,
    check: Option<PayloadCheck>,
}

/// What every request needs: the routes, the limits, the counters, whether the
/// application is running.
pub(crate) struct Handler {
    routes: HashMap<String, Route>,
    max_body_bytes: u64,
    body_timeout: Duration,
    publish_timeout: Duration,
    retry_after: HeaderValue,
    pub(crate) metrics: Arc<WebhookMetrics>,
    pub(crate) ready: AtomicBool,
    /// When a publish last failed (queue full or unreachable), for the health report.
    pub(crate) publish_failed: Mutex<Option<Instant>>,
}

/// The answer to a request: the status and a small JSON body.
pub(crate) type Answer = Response<Full<Bytes>>;

impl Handler {
    /// A handler for `config`'s routes, each publishing through `publishers[route.queue]`
    /// (the caller checked that each queue is there).
    pub(crate) fn new(
        config: &WebhookConfig,
        publishers: &HashMap<String, Publisher>,
        checks: &HashMap<String, PayloadCheck>,
    ) -> Self {
        let routes = config
            .routes
            .iter()
            .enumerate()
            .filter_map(|(slot, route)| {
                let publisher = publishers.get(&route.queue)?.clone();
                Some((
                    route.path.clone(),
                    Route {
                        slot,
                        config: route.clone(),
                        publisher,
                        check: checks.get(&route.task).cloned(),
                    },
                ))
            })
            .collect();
        Self {
            routes,
            max_body_bytes: config.max_body_bytes,
            body_timeout: Duration::from_millis(config.body_timeout_ms),
            publish_timeout: Duration::from_millis(config.publish_timeout_ms),
            retry_after: HeaderValue::from(config.retry_after_secs.max(1)),
            metrics: Arc::new(WebhookMetrics::new(
                config.routes.iter().map(|r| r.path.clone()),
            )),
            ready: AtomicBool::new(false),
            publish_failed: Mutex::new(None),
        }
    }

    /// Answers `request`; never panics, never reads more than the body limit.
    pub(crate) async fn handle(&self, request: Request<Incoming>) -> Answer {
        let route = self.routes.get(request.uri().path());
        let slot: RouteSlot = route.map(|r| r.slot);
        self.metrics.received(slot);
        match self.answer(route, request).await {
            Ok(answer) => answer,
            Err(refused) => {
                self.metrics.refused(slot, refused.reason);
                tracing::debug!(
                    route = route.map_or("", |r| r.config.path.as_str()),
                    reason = refused.reason.as_str(),
                    detail = refused.message,
                    "webhook request refused"
                );
                refused.into_answer(&self.retry_after)
            }
        }
    }

    async fn answer(
        &self,
        route: Option<&Route>,
        request: Request<Incoming>,
    ) -> Result<Answer, Refused> {
        let Some(route) = route else {
            return Err(refuse(
                Refusal::NotFound,
                StatusCode::NOT_FOUND,
                "not_found",
                "no webhook route has this path",
            ));
        };
        if request.method() != Method::POST {
            return Err(refuse(
                Refusal::Method,
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "webhooks are sent with POST",
            ));
        }
        let (head, body) = request.into_parts();
        // Announced too large: refused before a byte of the body is read.
        if body.size_hint().lower() > self.max_body_bytes {
            return Err(self.too_large());
        }
        if let AuthConfig::Bearer(bearer) = &route.config.auth {
            verify_bearer(
                bearer.token.expose().trim().as_bytes(),
                header_text(&head.headers, header::AUTHORIZATION.as_str())?,
            )
            .map_err(|error| unauthorized(&error))?;
        }
        if !is_json(&head.headers) {
            return Err(refuse(
                Refusal::MediaType,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let body = self.read_body(body).await?;
        if let AuthConfig::Hmac(hmac) = &route.config.auth {
            verify_signature(
                hmac.secret.expose().trim().as_bytes(),
                header_text(&head.headers, &hmac.header)?,
                &body,
                unix_now(),
                Duration::from_secs(hmac.tolerance_secs),
            )
            .map_err(|error| unauthorized(&error))?;
        }
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|error| bad_request(format!("the body is not JSON: {error}")))?;
        if let Some(check) = &route.check {
            check(&body).map_err(|reason| {
                refuse(
                    Refusal::Invalid,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    &plba_util::printable(&reason),
                )
            })?;
        }
        let key = idempotency_key(&head.headers, &route.config, &json)?;
        if !self.ready.load(Ordering::Acquire) {
            return Err(unavailable("the application is not running; retry later"));
        }
        let mut task = Task::new(route.config.task.clone(), body)
            .with_metadata(ROUTE_METADATA, route.config.path.clone());
        if let Some(key) = key {
            task = task.with_idempotency_key(
                format!("webhook:{}:{key}", route.config.path),
                route.config.idempotency_ttl(),
            );
        }
        let id = task.id;
        let published = tokio::time::timeout(self.publish_timeout, route.publisher.publish(task));
        match published.await {
            Ok(Ok(Published::Enqueued)) => {
                self.metrics.accepted(Some(route.slot));
                Ok(task_answer(StatusCode::ACCEPTED, id, false))
            }
            Ok(Ok(Published::Duplicate { existing })) => {
                self.metrics.duplicate(Some(route.slot));
                Ok(task_answer(StatusCode::OK, existing, true))
            }
            Ok(Err(QueueError::Full { .. })) => {
                self.publish_failed();
                Err(queue_full())
            }
            // The queue neither took the task nor said why in time (a bounded queue that
            // waits for room, a backend that does not answer). Without an idempotency key,
            // the sender's retry may make a second task if this one lands after all.
            Err(_) => {
                self.publish_failed();
                Err(unavailable(
                    "the queue did not take the task in time; retry later",
                ))
            }
            Ok(Err(error)) => {
                self.publish_failed();
                tracing::warn!(
                    route = route.config.path,
                    error = %plba_util::error_chain(&error),
                    "a webhook's task could not be published"
                );
                Err(unavailable(
                    "the queue cannot take the task now; retry later",
                ))
            }
        }
    }

    fn publish_failed(&self) {
        *self.publish_failed.lock_or_recover() = Some(Instant::now());
    }

    async fn read_body(&self, body: Incoming) -> Result<Bytes, Refused> {
        let limit = usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX);
        let collected =
            tokio::time::timeout(self.body_timeout, Limited::new(body, limit).collect());
        match collected.await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
                Err(self.too_large())
            }
            Ok(Err(error)) => Err(bad_request(format!("the body could not be read: {error}"))),
            Err(_) => Err(refuse(
                Refusal::Timeout,
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the body did not arrive in time",
            )),
        }
    }

    fn too_large(&self) -> Refused {
        refuse(
            Refusal::TooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            &format!(
                "the body is over the limit of {} bytes",
                self.max_body_bytes
            ),
        )
    }
}

fn queue_full() -> Refused {
    refuse(
        Refusal::QueueFull,
        StatusCode::TOO_MANY_REQUESTS,
        "queue_full",
        "the queue is full; retry later",
    )
}

fn unavailable(message: &str) -> Refused {
    refuse(
        Refusal::Unavailable,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        message,
    )
}

/// The request's idempotency key: the route's field of the body when it names one (on a
/// signed route the body is signed and a header is not, so a captured request replayed with
/// another header is still a duplicate), else the `Idempotency-Key` header, else none. A
/// field the route names but the body lacks is a bad request: the sender's retries could not
/// be told apart.
fn idempotency_key(
    headers: &HeaderMap,
    route: &RouteConfig,
    json: &serde_json::Value,
) -> Result<Option<String>, Refused> {
    let key = if let Some(field) = &route.idempotency_field {
        let found = if field.starts_with('/') {
            json.pointer(field)
        } else {
            json.get(field)
        };
        match found {
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(serde_json::Value::Number(number)) => number.to_string(),
            _ => {
                return Err(bad_request(format!(
                    "the body has no {field:?} (a string or a number) to tell retries apart"
                )));
            }
        }
    } else if let Some(value) = headers.get("idempotency-key") {
        value
            .to_str()
            .map_err(|_| bad_request("the Idempotency-Key header is not text".to_owned()))?
            .trim()
            .to_owned()
    } else {
        return Ok(None);
    };
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.chars().any(char::is_control) {
        return Err(bad_request(format!(
            "the idempotency key must be 1 to {MAX_KEY_BYTES} bytes of printable text"
        )));
    }
    Ok(Some(key))
}

/// Header `name` as text; a value that is not text is refused as such (not taken for a
/// missing header).
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Refused> {
    headers
        .get(name)
        .map(|value| {
            value.to_str().map_err(|_| {
                refuse(
                    Refusal::Unauthorized,
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    &format!("the {name} header is not text"),
                )
            })
        })
        .transpose()
}

fn is_json(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    content_type.is_some_and(|value| {
        let essence = value.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/json")
            || (essence.len() > 5
                && essence.to_ascii_lowercase().starts_with("application/")
                && essence.to_ascii_lowercase().ends_with("+json"))
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn unauthorized(error: &crate::SignatureError) -> Refused {
    refuse(
        Refusal::Unauthorized,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &error.to_string(),
    )
}

fn bad_request(message: impl Into<String>) -> Refused {
    Refused {
        reason: Refusal::BadRequest,
        status: StatusCode::BAD_REQUEST,
        code: "bad_request",
        message: message.into(),
    }
}

fn refuse(reason: Refusal, status: StatusCode, code: &'static str, message: &str) -> Refused {
    Refused {
        reason,
        status,
        code,
        message: message.to_owned(),
    }
}

/// A refused request: why (the counter's reason), and what the sender is told.
#[derive(Debug)]
pub(crate) struct Refused {
    reason: Refusal,
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refused {
    fn into_answer(self, retry_after: &HeaderValue) -> Answer {
        let mut answer = json_answer(
            self.status,
            &serde_json::json!({"error": {"code": self.code, "message": self.message}}),
        );
        let headers = answer.headers_mut();
        match self.status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, retry_after.clone());
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            _ => {}
        }
        answer
    }
}

pub(crate) fn json_answer(status: StatusCode, body: &serde_json::Value) -> Answer {
    with_json_body(status, body.to_string())
}

/// The answer naming the task a request made (or the one it duplicates). Written directly,
/// not through a `serde_json::Value`: it is every accepted request's answer, and a task id
/// is hex digits, which need no escaping.
fn task_answer(status: StatusCode, id: TaskId, duplicate: bool) -> Answer {
    with_json_body(
        status,
        format!(r#"{{"task_id":"{id}","duplicate":{duplicate}}}"#),
    )
}

fn with_json_body(status: StatusCode, body: String) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    answer
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn json_media_types_are_recognised() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/vnd.shop+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }

    fn route(field: Option<&str>) -> RouteConfig {
        serde_json::from_value(serde_json::json!({
            "path": "/h", "queue": "q", "task": "t",
            "auth": {"bearer": {"token": "0123456789abcdef"}},
            "idempotency_field": field,
        }))
        .unwrap()
    }

    #[test]
    fn the_key_comes_from_the_header_then_the_field() {
        let json = serde_json::json!({"id": "evt_1", "data": {"number": 42}});
        let mut headers = HeaderMap::new();
        assert_eq!(
            idempotency_key(&headers, &route(None), &json).unwrap(),
            None
        );
        assert_eq!(
            idempotency_key(&headers, &route(Some("id")), &json).unwrap(),
            Some("evt_1".to_owned())
        );
        assert_eq!(
            idempotency_key(&headers, &route(Some("/data/number")), &json).unwrap(),
            Some("42".to_owned())
        );
        assert!(idempotency_key(&headers, &route(Some("missing")), &json).is_err());
        headers.insert("idempotency-key", HeaderValue::from_static("retry-7"));
        // The signed field wins over the unsigned header; the header serves routes without.
        assert_eq!(
            idempotency_key(&headers, &route(Some("id")), &json).unwrap(),
            Some("evt_1".to_owned())
        );
        assert_eq!(
            idempotency_key(&headers, &route(None), &json).unwrap(),
            Some("retry-7".to_owned())
        );
        headers.insert(
            "idempotency-key",
            HeaderValue::from_str(&"k".repeat(MAX_KEY_BYTES + 1)).unwrap(),
        );
        assert!(idempotency_key(&headers, &route(None), &json).is_err());
    }

    #[tokio::test]
    async fn a_task_answer_reads_as_the_json_it_stands_for() {
        let id = TaskId::generate();
        for duplicate in [false, true] {
            let answer = task_answer(StatusCode::ACCEPTED, id, duplicate);
            assert_eq!(answer.headers()[header::CONTENT_TYPE], "application/json");
            let body = answer.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                json,
                serde_json::json!({"task_id": id.to_string(), "duplicate": duplicate})
            );
        }
    }
}

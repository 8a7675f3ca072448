//! The one shape of an error that is a message and, optionally, the cause under it: built
//! with `new(message)`, given its cause with `with_source(cause)`, read with `message()`.
//! [`TaskError`](crate::TaskError) and [`ViewError`](crate::ViewError) follow the same
//! shape with a field more (a kind, a view's name).

/// Defines such an error: `$name`, displayed as `$display` (which may name `{message}`).
macro_rules! message_error {
    ($(#[$meta:meta])* $name:ident, $display:literal) => {
        $(#[$meta])*
        #[derive(Debug, thiserror::Error)]
        #[error($display)]
        pub struct $name {
            message: String,
            #[source]
            source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
        }

        impl $name {
            /// An error saying `message`, without a cause.
            pub fn new(message: impl Into<String>) -> Self {
                Self {
                    message: message.into(),
                    source: None,
                }
            }

            /// The same error with `source` as its cause (kept as the source, not pasted
            /// into the message).
            #[must_use]
            pub fn with_source(
                mut self,
                source: impl std::error::Error + Send + Sync + 'static,
            ) -> Self {
                self.source = Some(Box::new(source));
                self
            }

            /// What failed.
            pub fn message(&self) -> &str {
                &self.message
            }
        }
    };
}

pub(crate) use message_error;

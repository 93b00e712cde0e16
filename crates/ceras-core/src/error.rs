//! The one error type of ceras.

/// Result alias used throughout ceras.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error ceras reports. Messages name the op, what it received and what it expected.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// Shapes that do not fit the op.
    #[error("{op}: {msg}")]
    Shape {
        /// The op or layer that failed.
        op: String,
        /// What was received and what was expected.
        msg: String,
    },
    /// A dtype the op does not accept.
    #[error("{op}: {msg}")]
    DType {
        /// The op or layer that failed.
        op: String,
        /// What was received and what was expected.
        msg: String,
    },
    /// Any other invalid argument (an axis out of range, an unknown name, ...).
    #[error("{op}: {msg}")]
    InvalidArgument {
        /// The op or layer that failed.
        op: String,
        /// What was received and what was expected.
        msg: String,
    },
    /// A backend that is unknown or not compiled in, or a backend failure.
    #[error("backend: {0}")]
    Backend(String),
    /// Something the current build or backend does not implement.
    #[error("{op}: not supported: {msg}")]
    Unsupported {
        /// The op that is not supported.
        op: String,
        /// Why.
        msg: String,
    },
    /// Reading or writing a file failed.
    #[error("io: {0}")]
    Io(String),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

/// Builds an [`Error::Shape`].
pub fn shape_err(op: &str, msg: impl Into<String>) -> Error {
    Error::Shape {
        op: op.into(),
        msg: msg.into(),
    }
}
/// Builds an [`Error::DType`].
pub fn dtype_err(op: &str, msg: impl Into<String>) -> Error {
    Error::DType {
        op: op.into(),
        msg: msg.into(),
    }
}
/// Builds an [`Error::InvalidArgument`].
pub fn arg_err(op: &str, msg: impl Into<String>) -> Error {
    Error::InvalidArgument {
        op: op.into(),
        msg: msg.into(),
    }
}
/// Builds an [`Error::Unsupported`].
pub fn unsupported(op: &str, msg: impl Into<String>) -> Error {
    Error::Unsupported {
        op: op.into(),
        msg: msg.into(),
    }
}

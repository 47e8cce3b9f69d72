//! The CNI error object: a well-known code, a message and details, printed as JSON on stdout.

use serde::{Deserialize, Serialize};

/// The spec's well-known error codes (plus room for plugin-specific ones above 100).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// 1: the plugin does not support the requested CNI version.
    IncompatibleVersion,
    /// 2: a configuration field the plugin does not support.
    UnsupportedField,
    /// 3: the container is unknown or does not exist.
    UnknownContainer,
    /// 4: a required environment variable is missing or invalid.
    InvalidEnvironment,
    /// 5: an I/O failure, such as reading the configuration.
    Io,
    /// 6: the configuration or a result could not be decoded.
    Decode,
    /// 7: the network configuration is invalid.
    InvalidNetworkConfig,
    /// 11: a transient failure; the runtime should try again later.
    TryAgainLater,
    /// 50: STATUS: the plugin is not available.
    NotAvailable,
    /// 51: STATUS: the plugin is not available, existing containers may have limited connectivity.
    LimitedConnectivity,
    /// Any other code, for example a plugin-specific one (100+).
    Other(u32),
}

impl ErrorCode {
    /// The numeric code used on the wire.
    pub fn as_u32(self) -> u32 {
        match self {
            Self::IncompatibleVersion => 1,
            Self::UnsupportedField => 2,
            Self::UnknownContainer => 3,
            Self::InvalidEnvironment => 4,
            Self::Io => 5,
            Self::Decode => 6,
            Self::InvalidNetworkConfig => 7,
            Self::TryAgainLater => 11,
            Self::NotAvailable => 50,
            Self::LimitedConnectivity => 51,
            Self::Other(code) => code,
        }
    }

    /// The code for a number read from the wire.
    pub fn from_u32(code: u32) -> Self {
        match code {
            1 => Self::IncompatibleVersion,
            2 => Self::UnsupportedField,
            3 => Self::UnknownContainer,
            4 => Self::InvalidEnvironment,
            5 => Self::Io,
            6 => Self::Decode,
            7 => Self::InvalidNetworkConfig,
            11 => Self::TryAgainLater,
            50 => Self::NotAvailable,
            51 => Self::LimitedConnectivity,
            other => Self::Other(other),
        }
    }
}

/// A CNI error: what a plugin prints (and what a runtime reads) when an operation fails.
#[derive(Debug, thiserror::Error)]
#[error("{msg} (cni error code {})", code.as_u32())]
pub struct Error {
    /// The well-known code.
    pub code: ErrorCode,
    /// A short message.
    pub msg: String,
    /// A longer explanation, often the underlying cause.
    pub details: String,
}

/// The wire form of [`Error`].
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The version the error is reported in.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// The numeric code.
    pub code: u32,
    /// The message.
    #[serde(default)]
    pub msg: String,
    /// The details.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl Error {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// Adds details, typically the underlying cause.
    pub fn details(mut self, details: impl ToString) -> Self {
        self.details = details.to_string();
        self
    }

    /// A failure of the network configuration (code 7).
    pub fn config(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidNetworkConfig, msg)
    }

    /// An I/O or system failure (code 5).
    pub fn io(msg: impl Into<String>, cause: impl ToString) -> Self {
        Self::new(ErrorCode::Io, msg).details(cause)
    }

    /// A missing or invalid environment variable (code 4).
    pub fn env(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidEnvironment, msg)
    }

    /// The wire form, reported in `cni_version`.
    pub fn to_body(&self, cni_version: &str) -> ErrorBody {
        ErrorBody {
            cni_version: cni_version.to_string(),
            code: self.code.as_u32(),
            msg: self.msg.clone(),
            details: self.details.clone(),
        }
    }

    /// Reads the wire form.
    pub fn from_body(body: ErrorBody) -> Self {
        Self {
            code: ErrorCode::from_u32(body.code),
            msg: body.msg,
            details: body.details,
        }
    }

    /// Maps a JSON error: broken syntax is a decode error (6), a well-formed document with
    /// wrong or missing fields is an invalid configuration (7).
    pub fn from_json(what: &str, err: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let code = match err.classify() {
            Category::Data => ErrorCode::InvalidNetworkConfig,
            Category::Io | Category::Syntax | Category::Eof => ErrorCode::Decode,
        };
        Self::new(code, format!("failed to decode {what}")).details(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_codes_round_trip() {
        for code in [1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 123] {
            assert_eq!(ErrorCode::from_u32(code).as_u32(), code);
        }
    }

    #[test]
    fn broken_json_is_a_decode_error_and_wrong_fields_are_a_config_error() {
        let syntax = serde_json::from_str::<ErrorBody>("{").unwrap_err();
        assert_eq!(Error::from_json("x", &syntax).code, ErrorCode::Decode);
        let data = serde_json::from_str::<ErrorBody>(r#"{"code":"x"}"#).unwrap_err();
        assert_eq!(
            Error::from_json("x", &data).code,
            ErrorCode::InvalidNetworkConfig
        );
    }
}

//! Calls from a plugin back into the host, wrapped as safe methods.
#![allow(unsafe_code)]

use serde_json::{Value, json};

use crate::abi::{Buffer, Bytes, HostFn, HostV1};

/// Why a host callback failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The host answered with an error (not found is not an error: reads return `null`).
    #[error("host: {0}")]
    Host(String),
    /// The host's reply was not a valid envelope.
    #[error("malformed reply from the host")]
    Malformed(#[source] serde_json::Error),
}

/// The host callbacks lent for one reconcile.
#[derive(Clone, Copy)]
pub struct Host<'a> {
    table: &'a HostV1,
}

impl<'a> Host<'a> {
    /// Wraps a table the host lent for the current call.
    pub fn new(table: &'a HostV1) -> Self {
        Host { table }
    }

    fn call(&self, function: HostFn, request: &Value) -> Result<Value, HostError> {
        let request = serde_json::to_vec(request).expect("json values always serialize");
        let reply: Buffer = function(self.table.ctx, Bytes::from_slice(&request));
        // SAFETY: the host returned a live buffer that it frees only when we hand it back.
        let bytes = unsafe { reply.to_vec() };
        (self.table.free)(reply);
        let mut envelope: Value = serde_json::from_slice(&bytes).map_err(HostError::Malformed)?;
        if let Some(error) = envelope.get("error").and_then(Value::as_str) {
            return Err(HostError::Host(error.to_string()));
        }
        Ok(envelope
            .get_mut("ok")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }

    /// An object from the shared cache, or `null`.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, HostError> {
        self.call(
            self.table.get,
            &json!({"apiVersion": api_version, "kind": kind, "namespace": namespace, "name": name}),
        )
    }

    /// Objects from the shared cache; `namespace` `""` means all; `selector` as in Rhai.
    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        selector: Value,
    ) -> Result<Vec<Value>, HostError> {
        let reply = self.call(
            self.table.list,
            &json!({"apiVersion": api_version, "kind": kind, "namespace": namespace, "selector": selector}),
        )?;
        Ok(match reply {
            Value::Array(items) => items,
            _ => Vec::new(),
        })
    }

    /// Creates an object; returns the server's copy.
    pub fn create(&self, obj: &Value) -> Result<Value, HostError> {
        self.call(self.table.create, obj)
    }

    /// Replaces an object; a conflict is an error.
    pub fn update(&self, obj: &Value) -> Result<Value, HostError> {
        self.call(self.table.update, obj)
    }

    /// Replaces an object's status.
    pub fn update_status(&self, obj: &Value) -> Result<Value, HostError> {
        self.call(self.table.update_status, obj)
    }

    /// Applies a JSON merge patch.
    pub fn patch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        patch: Value,
    ) -> Result<Value, HostError> {
        self.call(
            self.table.patch,
            &json!({"apiVersion": api_version, "kind": kind, "namespace": namespace, "name": name, "patch": patch}),
        )
    }

    /// Deletes an object; `null` when it was already gone.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, HostError> {
        self.call(
            self.table.delete,
            &json!({"apiVersion": api_version, "kind": kind, "namespace": namespace, "name": name}),
        )
    }

    /// Records an Event about `obj` (`event_type` is `Normal` or `Warning`).
    pub fn event(
        &self,
        obj: &Value,
        event_type: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), HostError> {
        self.call(
            self.table.event,
            &json!({"object": obj, "type": event_type, "reason": reason, "message": message}),
        )
        .map(drop)
    }
}

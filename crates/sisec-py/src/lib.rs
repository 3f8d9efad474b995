//! `sisec_stream._core`: the pyo3 binding of sisec-core.
//!
//! Conversions and error mapping only. Users import `sisec_stream`, whose
//! Python modules wrap these classes with documented, typed APIs.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use sisec_core as core;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

// The exception tree is declared once, in Python (`sisec_stream/errors.py`),
// so it can subclass ValueError; the binding raises those classes.
pyo3::import_exception!(sisec_stream.errors, ConfigError);
pyo3::import_exception!(sisec_stream.errors, WatchlistError);

/// Alert as crossing into Python:
/// (alert_id, kind, priority, event_time_ms, incident_key, json).
type AlertTuple<'py> = (String, &'static str, u8, i64, String, Bound<'py, PyBytes>);
/// Reject as crossing into Python:
/// (index, reason, field, detail, event_id, source).
type RejectTuple = (
    u32,
    &'static str,
    Option<String>,
    String,
    Option<String>,
    Option<&'static str>,
);

/// A watchlist loaded by the core (see `sisec_stream.Watchlist`).
#[pyclass(frozen, module = "sisec_stream._core", name = "Watchlist")]
struct PyWatchlist {
    inner: Arc<core::Watchlist>,
}

#[pymethods]
impl PyWatchlist {
    /// An empty watchlist.
    #[new]
    fn new() -> Self {
        PyWatchlist {
            inner: Arc::new(core::Watchlist::new()),
        }
    }

    /// Parse CSV bytes; `source` names the file in error messages.
    #[staticmethod]
    fn from_csv_bytes(py: Python<'_>, data: &[u8], source: &str) -> PyResult<Self> {
        let wl = py
            .detach(|| core::Watchlist::from_csv(data, source))
            .map_err(|e| {
                WatchlistError::new_err((e.to_string(), e.source.clone(), e.line, e.message))
            })?;
        Ok(PyWatchlist {
            inner: Arc::new(wl),
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Entries per list.
    fn counts_by_list(&self) -> std::collections::BTreeMap<String, usize> {
        self.inner.counts_by_list()
    }
}

/// The engine (see `sisec_stream.Engine`).
#[pyclass(frozen, module = "sisec_stream._core", name = "Engine")]
struct PyEngine {
    inner: core::Engine,
}

/// The contents of a bytes object held by `holder`, for as long as `holder`.
fn held_bytes<'t>(holder: &'t Bound<'_, PyTuple>, b: &Bound<'_, PyBytes>) -> &'t [u8] {
    let _ = holder;
    let s = b.as_bytes();
    // SAFETY: `holder` (an immutable tuple) owns a strong reference to `b`, and
    // a bytes object's buffer never moves or changes while it is alive.
    unsafe { std::slice::from_raw_parts(s.as_ptr(), s.len()) }
}

/// Events handed to the core per GIL release.
const CHUNK: usize = 4096;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (config_json = None, watchlist = None))]
    fn new(config_json: Option<&str>, watchlist: Option<&PyWatchlist>) -> PyResult<Self> {
        let config = match config_json {
            Some(json) => core::EngineConfig::from_json(json)
                .map_err(|e| ConfigError::new_err((e.to_string(), e.key)))?,
            None => core::EngineConfig::default(),
        };
        let watchlist = watchlist.map_or_else(Default::default, |w| Arc::clone(&w.inner));
        Ok(PyEngine {
            inner: core::Engine::new(config, watchlist),
        })
    }

    /// Process a list of `bytes`; returns
    /// (n_in, accepted_by_source, alerts, rejects) as plain tuples.
    #[pyo3(signature = (events, now_ms = None))]
    #[allow(clippy::type_complexity)]
    fn process<'py>(
        &self,
        py: Python<'py>,
        events: &Bound<'py, PyList>,
        now_ms: Option<i64>,
    ) -> PyResult<(
        usize,
        (u64, u64, u64),
        Vec<AlertTuple<'py>>,
        Vec<RejectTuple>,
    )> {
        // A tuple copy keeps every item alive even if another thread mutates
        // the caller's list while the GIL is released; bytes are immutable, so
        // the borrowed slices cannot change. Work in chunks so the slice buffer
        // is reused and stays small (a 100k-entry Vec per call costs page faults).
        let items = events.to_tuple();
        let now = now_ms.unwrap_or_else(self::now_ms);
        let mut out = core::BatchOutput::default();
        let mut slices: Vec<&[u8]> = Vec::with_capacity(CHUNK.min(items.len()));
        for start in (0..items.len()).step_by(CHUNK) {
            slices.clear();
            for i in start..items.len().min(start + CHUNK) {
                let item = items.get_borrowed_item(i)?;
                let bytes = item.cast::<PyBytes>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "events[{i}] must be bytes, not {}",
                        item.get_type().name().map_or("?".into(), |n| n.to_string())
                    ))
                })?;
                slices.push(held_bytes(&items, &bytes));
            }
            py.detach(|| self.inner.process_into(&slices, start, now, &mut out));
        }

        let [plate, button, call] = out.accepted_by_source;
        let alerts = out
            .alerts
            .into_iter()
            .map(|a| {
                let json = PyBytes::new(py, &a.json);
                (
                    a.alert_id,
                    a.kind.as_str(),
                    a.priority,
                    a.event_time_ms,
                    a.incident_key,
                    json,
                )
            })
            .collect();
        let rejects = out
            .rejects
            .into_iter()
            .map(|r| {
                (
                    r.index,
                    r.reject.reason.as_str(),
                    r.reject.field,
                    r.reject.detail,
                    r.event_id,
                    r.source.map(core::EventType::as_str),
                )
            })
            .collect();
        Ok((out.n_in, (plate, button, call), alerts, rejects))
    }

    /// Size limit for one event, in bytes.
    #[getter]
    fn max_event_bytes(&self) -> usize {
        self.inner.config().max_event_bytes
    }

    /// Entries in the engine's watchlist.
    #[getter]
    fn watchlist_len(&self) -> usize {
        self.inner.watchlist().len()
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyWatchlist>()?;
    m.add_class::<PyEngine>()?;
    m.add(
        "REJECT_REASONS",
        core::Reason::ALL.map(core::Reason::as_str).to_vec(),
    )?;
    m.add(
        "EVENT_TYPES",
        core::EventType::ALL.map(core::EventType::as_str).to_vec(),
    )?;
    m.add(
        "ALERT_KINDS",
        core::AlertKind::ALL.map(core::AlertKind::as_str).to_vec(),
    )?;
    m.add("ALERT_SCHEMA_VERSION", core::alert::ALERT_SCHEMA_VERSION)?;
    Ok(())
}

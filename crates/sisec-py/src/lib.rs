//! `sisec_stream._core`: the pyo3 binding of sisec-core.
//!
//! Conversions and error mapping only. Users import `sisec_stream`, whose
//! Python modules wrap these classes with documented, typed APIs.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use sisec_core as core;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

// The exception tree is declared once, in Python (`sisec_stream/errors.py`),
// so it can subclass ValueError; the binding raises those classes.
pyo3::import_exception!(sisec_stream.errors, ConfigError);
pyo3::import_exception!(sisec_stream.errors, WatchlistError);
pyo3::import_exception!(sisec_stream.errors, ZonesError);
pyo3::import_exception!(sisec_stream.errors, RegistryError);

/// Alert as crossing into Python:
/// (alert_id, kind, priority, event_time_ms, incident_key, update, json, corroboration).
type AlertTuple<'py> = (
    String,
    &'static str,
    u8,
    i64,
    String,
    u16,
    Bound<'py, PyBytes>,
    bool,
);

fn alert_tuple(py: Python<'_>, a: core::Alert) -> AlertTuple<'_> {
    let json = PyBytes::new(py, &a.json);
    (
        a.alert_id,
        a.kind.as_str(),
        a.priority,
        a.event_time_ms,
        a.incident_key,
        a.update,
        json,
        a.corroboration,
    )
}

/// What `Engine.process` returns: (n_in, accepted by source, alerts, rejects,
/// dropped hits).
type BatchTuple<'py> = (
    usize,
    (u64, u64, u64),
    Vec<AlertTuple<'py>>,
    Vec<RejectTuple>,
    u64,
);
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

/// A hit as crossing into Python: (entry_id, list, listed, read, kind, score,
/// priority, substitutions [(position, read, listed)], edge, corroboration).
type HitTuple = (
    String,
    String,
    String,
    String,
    &'static str,
    f32,
    u8,
    Vec<(u8, char, char)>,
    Option<&'static str>,
    Vec<&'static str>,
);

fn watchlist_error(e: core::WatchlistError) -> PyErr {
    WatchlistError::new_err((e.to_string(), e.source.clone(), e.line, e.message))
}

fn config_error(message: String) -> PyErr {
    ConfigError::new_err((message, "watchlist"))
}

fn parse_config(json: Option<&str>) -> PyResult<core::WatchlistConfig> {
    json.map_or_else(
        || Ok(core::WatchlistConfig::default()),
        |j| core::WatchlistConfig::from_json(j).map_err(config_error),
    )
}

/// A watchlist shared with the engines built on it (see `sisec_stream.Watchlist`):
/// updates take effect between their batches.
#[pyclass(frozen, module = "sisec_stream._core", name = "Watchlist")]
struct PyWatchlist {
    inner: Arc<RwLock<core::Watchlist>>,
}

impl PyWatchlist {
    fn read(&self) -> RwLockReadGuard<'_, core::Watchlist> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, core::Watchlist> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The default priority rules, for hits outside an engine.
static DEFAULTS: std::sync::LazyLock<core::priority::PriorityConfig> =
    std::sync::LazyLock::new(Default::default);

fn hit_tuple(wl: &core::Watchlist, read: &core::Plate, h: &core::Hit) -> HitTuple {
    use core::watchlist::corroboration as c;
    let e = wl.entry(h.entry);
    let list = wl.list_name(e.list);
    let base = wl.priority_of(e).unwrap_or_else(|| DEFAULTS.list(list).0);
    let mut corroboration = Vec::new();
    for (flag, name) in [
        (c::CANDIDATE, "candidate"),
        (c::VEHICLE, "vehicle"),
        (c::VEHICLE_MISMATCH, "vehicle_mismatch"),
    ] {
        if h.corroboration & flag != 0 {
            corroboration.push(name);
        }
    }
    (
        e.entry_id.to_string(),
        list.to_owned(),
        e.listed(),
        read.to_string(),
        h.kind.as_str(),
        h.score,
        core::priority::shift(base, -i16::from(DEFAULTS.demotion(h.score))),
        h.substitutions()
            .iter()
            .map(|s| (s.pos + 1, s.read as char, s.listed as char))
            .collect(),
        h.edge.map(|e| e.as_str()),
        corroboration,
    )
}

#[pymethods]
impl PyWatchlist {
    /// An empty watchlist with matching rules from `config_json`.
    #[new]
    #[pyo3(signature = (config_json = None))]
    fn new(config_json: Option<&str>) -> PyResult<Self> {
        let wl = core::Watchlist::with_config(&parse_config(config_json)?).map_err(config_error)?;
        Ok(PyWatchlist {
            inner: Arc::new(RwLock::new(wl)),
        })
    }

    /// Parse CSV bytes; `source` names the file in error messages. Returns the
    /// watchlist, the rows loaded and the skipped rows [(line, why)].
    #[staticmethod]
    #[pyo3(signature = (data, source, config_json = None, skip_bad_rows = false))]
    #[allow(clippy::type_complexity)]
    fn from_csv_bytes(
        py: Python<'_>,
        data: &[u8],
        source: &str,
        config_json: Option<&str>,
        skip_bad_rows: bool,
    ) -> PyResult<(Self, usize, Vec<(u64, String)>)> {
        let config = parse_config(config_json)?;
        let options = core::watchlist::LoadOptions { skip_bad_rows };
        let (wl, report) = py
            .detach(|| core::Watchlist::from_csv_with(data, source, &config, &options))
            .map_err(watchlist_error)?;
        let skipped = report
            .skipped
            .into_iter()
            .map(|s| (s.line, s.message))
            .collect();
        Ok((
            PyWatchlist {
                inner: Arc::new(RwLock::new(wl)),
            },
            report.loaded,
            skipped,
        ))
    }

    /// Add or replace (by entry id) the rows of CSV bytes in this live watchlist.
    /// The rows are parsed first and applied in one short write lock.
    #[pyo3(signature = (data, source, skip_bad_rows = false, replace_all = false))]
    fn load_csv_bytes(
        &self,
        py: Python<'_>,
        data: &[u8],
        source: &str,
        skip_bad_rows: bool,
        replace_all: bool,
    ) -> PyResult<(usize, Vec<(u64, String)>)> {
        let options = core::watchlist::LoadOptions { skip_bad_rows };
        py.detach(|| {
            if replace_all {
                // Build the new list aside, then swap: matching never waits on parsing.
                let config = self.read().config().clone();
                let (wl, report) = core::Watchlist::from_csv_with(data, source, &config, &options)?;
                *self.write() = wl;
                Ok(report)
            } else {
                let mut staged = self.read().clone();
                let report = staged.load_csv(data, source, &options)?;
                *self.write() = staged;
                Ok(report)
            }
        })
        .map_err(watchlist_error)
        .map(|r| {
            (
                r.loaded,
                r.skipped.into_iter().map(|s| (s.line, s.message)).collect(),
            )
        })
    }

    /// Add or replace one entry.
    #[pyo3(signature = (entry_id, plate, list, priority = None, valid_from_ms = None,
        expires_ms = None, region = None, make = None, color = None, match_mode = None,
        note = None))]
    #[allow(clippy::too_many_arguments)]
    fn upsert(
        &self,
        entry_id: String,
        plate: String,
        list: String,
        priority: Option<u8>,
        valid_from_ms: Option<i64>,
        expires_ms: Option<i64>,
        region: Option<String>,
        make: Option<String>,
        color: Option<String>,
        match_mode: Option<&str>,
        note: Option<String>,
    ) -> PyResult<()> {
        let match_mode = match match_mode {
            None => None,
            Some(m) => Some(core::watchlist::MatchMode::parse(m).ok_or_else(|| {
                PyValueError::new_err(format!("match {m:?} must be exact or lookalike"))
            })?),
        };
        let spec = core::EntrySpec {
            entry_id,
            plate,
            list,
            priority,
            valid_from_ms,
            expires_ms,
            region,
            make,
            color,
            match_mode,
            note,
        };
        self.write()
            .upsert(spec)
            .map_err(|m| WatchlistError::new_err((m.clone(), "<upsert>", None::<u64>, m)))
    }

    /// Remove an entry by id; False if there was none.
    fn remove(&self, entry_id: &str) -> bool {
        self.write().remove(entry_id)
    }

    /// Hits of one plate at `at_ms` (epoch ms).
    #[pyo3(signature = (plate, at_ms, region = None, confidence = None))]
    fn match_plate(
        &self,
        plate: &str,
        at_ms: i64,
        region: Option<&str>,
        confidence: Option<f64>,
    ) -> PyResult<Vec<HitTuple>> {
        let p = core::Plate::parse(plate)
            .map_err(|e| PyValueError::new_err(format!("{plate:?}: {}", e.describe())))?;
        let wl = self.read();
        let mut out = Vec::new();
        wl.match_read(
            &core::ReadQuery {
                region,
                confidence,
                ..core::ReadQuery::plate(&p, at_ms)
            },
            &mut out,
        );
        Ok(out.iter().map(|h| hit_tuple(&wl, &p, h)).collect())
    }

    /// Hits of many plates at `at_ms`, as (index of the plate, hit) pairs; a
    /// string that is not a plate has none. Plates are parsed while holding the
    /// GIL (no per-plate allocation), then matched with it released.
    fn match_batch(
        &self,
        py: Python<'_>,
        plates: &Bound<'_, PyList>,
        at_ms: i64,
    ) -> PyResult<Vec<(usize, HitTuple)>> {
        let mut parsed: Vec<(usize, core::Plate)> = Vec::with_capacity(plates.len());
        for (i, item) in plates.iter().enumerate() {
            let s = item
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err(format!("plates[{i}] must be str")))?;
            if let Ok(p) = core::Plate::parse(s.to_str()?) {
                parsed.push((i, p));
            }
        }
        let wl = self.read();
        let hits = py.detach(|| {
            let mut out = Vec::new();
            let mut found: Vec<(usize, core::Plate, core::Hit)> = Vec::new();
            for (i, p) in &parsed {
                out.clear();
                wl.match_read(&core::ReadQuery::plate(p, at_ms), &mut out);
                found.extend(out.iter().map(|h| (*i, *p, *h)));
            }
            found
        });
        Ok(hits
            .iter()
            .map(|(i, p, h)| (*i, hit_tuple(&wl, p, h)))
            .collect())
    }

    /// Every read the rules would match to a look-alike entry listing `plate`
    /// (exact, look-alike, edge), the plate first.
    fn read_variants(&self, plate: &str) -> PyResult<Vec<String>> {
        let p = core::Plate::parse(plate)
            .map_err(|e| PyValueError::new_err(format!("{plate:?}: {}", e.describe())))?;
        Ok(self
            .read()
            .read_variants(&p)
            .iter()
            .map(|v| v.as_str().to_owned())
            .collect())
    }

    /// Is `plate` on allow list `list` at `at_ms`?
    fn allows(&self, list: &str, plate: &str, at_ms: i64) -> bool {
        core::Plate::parse(plate).is_ok_and(|p| self.read().allows(list, &p, at_ms))
    }

    fn __len__(&self) -> usize {
        self.read().len()
    }

    /// Entries per list.
    fn counts_by_list(&self) -> std::collections::BTreeMap<String, usize> {
        self.read().counts_by_list()
    }

    /// Bytes held by entries and indexes.
    fn memory_bytes(&self) -> usize {
        self.read().memory_bytes()
    }
}

/// Zones with their point index (see `sisec_stream.Zones`).
#[pyclass(frozen, module = "sisec_stream._core", name = "Zones")]
struct PyZones {
    // Shared with the engines that use these zones.
    inner: Arc<core::Zones>,
}

fn f64_buffer(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<PyBuffer<f64>> {
    PyBuffer::<f64>::get(obj).map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must support the buffer protocol with float64 items \
             (array.array('d'), a numpy float64 array)"
        ))
    })
}

/// A float64 buffer's items: read in place when the buffer is C-contiguous
/// (a numpy array, `array('d')`), copied otherwise.
struct F64Items<'b> {
    buffer: &'b PyBuffer<f64>,
    copy: Option<Vec<f64>>,
}

impl<'b> F64Items<'b> {
    fn new(py: Python<'_>, buffer: &'b PyBuffer<f64>) -> PyResult<Self> {
        let copy = match buffer.as_slice_ptr() {
            Some(_) => None,
            None => Some(buffer.to_vec(py)?),
        };
        Ok(F64Items { buffer, copy })
    }

    fn as_slice(&self) -> &[f64] {
        match (&self.copy, self.buffer.as_slice_ptr()) {
            (Some(v), _) => v,
            // SAFETY: the buffer is C-contiguous with `item_count` f64 items
            // (`PyBuffer::<f64>::get` checked the format), and it stays
            // exported, so the memory alive, as long as `self.buffer` lives,
            // which outlives the returned slice. The call reading it releases
            // the GIL: like numpy's own functions, it assumes no other thread
            // writes to the array meanwhile (the buffer's contents would then
            // be unspecified, not the memory's validity).
            (None, Some(p)) => unsafe { p.as_ref() },
            (None, None) => unreachable!("contiguous when checked"),
        }
    }
}

/// `array.array('I', items)` with one copy (through a memoryview of `items`).
fn u32_array<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    items: &[u32],
) -> PyResult<Bound<'py, PyAny>> {
    let out = array.call1(("I",))?;
    if out.getattr("itemsize")?.extract::<usize>()? != 4 {
        // `array('I')` is 4 bytes on every platform CPython supports; if not,
        // go through Python ints.
        out.call_method1("extend", (items.to_vec(),))?;
        return Ok(out);
    }
    // SAFETY: a read-only view of `items`' bytes, released below before
    // `items` can go away; `frombytes` copies them and keeps no reference.
    let view = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyMemoryView_FromMemory(
                items.as_ptr() as *mut std::ffi::c_char,
                std::mem::size_of_val(items) as pyo3::ffi::Py_ssize_t,
                pyo3::ffi::PyBUF_READ,
            ),
        )?
    };
    let copied = out.call_method1("frombytes", (&view,));
    view.call_method0("release")?;
    copied?;
    Ok(out)
}

#[pymethods]
impl PyZones {
    /// Parse a GeoJSON FeatureCollection; `bbox` (lon0, lat0, lon1, lat1) is
    /// where zones are expected (catches swapped coordinates).
    #[staticmethod]
    #[pyo3(signature = (data, source, bbox = None))]
    fn from_geojson_bytes(
        py: Python<'_>,
        data: &[u8],
        source: &str,
        bbox: Option<(f64, f64, f64, f64)>,
    ) -> PyResult<Self> {
        let zones = py
            .detach(|| core::Zones::from_geojson(data, source, bbox))
            .map_err(|e| {
                ZonesError::new_err((
                    e.to_string(),
                    e.source.clone(),
                    e.feature,
                    e.zone_id.clone(),
                ))
            })?;
        Ok(PyZones {
            inner: Arc::new(zones),
        })
    }

    /// Indices of the zones covering (lat, lon).
    fn locate(&self, lat: f64, lon: f64) -> Vec<u32> {
        self.inner.locate(lat, lon)
    }

    /// (point index, zone index) pairs for float64 buffers of latitudes and
    /// longitudes, as two parallel `array('I')`: a Python int per pair would
    /// cost more than the lookup. Contiguous buffers are read in place; the
    /// GIL is released while locating.
    fn locate_batch<'py>(
        &self,
        py: Python<'py>,
        lats: &Bound<'py, PyAny>,
        lons: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (lat_buf, lon_buf) = (f64_buffer(lats, "lats")?, f64_buffer(lons, "lons")?);
        if lat_buf.item_count() != lon_buf.item_count() {
            return Err(PyValueError::new_err(format!(
                "{} latitudes but {} longitudes",
                lat_buf.item_count(),
                lon_buf.item_count()
            )));
        }
        let (lats, lons) = (F64Items::new(py, &lat_buf)?, F64Items::new(py, &lon_buf)?);
        let (lats, lons) = (lats.as_slice(), lons.as_slice());
        let (points, zones) = py.detach(|| {
            // About 4 zones per point in the benchmark; growing is cheap anyway.
            let (mut points, mut zones) = (
                Vec::with_capacity(lats.len() * 2),
                Vec::with_capacity(lats.len() * 2),
            );
            self.inner.locate_many(lats, lons, &mut points, &mut zones);
            (points, zones)
        });
        let array = py.import("array")?.getattr("array")?;
        Ok((
            u32_array(py, &array, &points)?,
            u32_array(py, &array, &zones)?,
        ))
    }

    /// (zone_id, name, kind, priority_boost, active windows, lists, allow_list).
    #[allow(clippy::type_complexity)]
    fn zone(
        &self,
        i: u32,
    ) -> PyResult<(
        String,
        String,
        String,
        Option<i8>,
        Vec<(u16, u16)>,
        Option<Vec<String>>,
        Option<String>,
        Option<&'static str>,
    )> {
        if i as usize >= self.inner.len() {
            return Err(PyValueError::new_err(format!("no zone {i}")));
        }
        let z = self.inner.zone(i);
        Ok((
            z.zone_id.clone(),
            z.name.clone(),
            z.kind.clone(),
            z.priority_boost,
            z.active.clone(),
            z.lists.clone(),
            z.allow_list.clone(),
            z.timezone.map(|tz| tz.name()),
        ))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// A camera or device registry (see `sisec_stream.Registry`).
#[pyclass(frozen, module = "sisec_stream._core", name = "Registry")]
struct PyRegistry {
    inner: core::Registry,
}

/// A sensor as crossing into Python:
/// (id, lat, lon, heading_deg, site, municipality, region, device_kind).
type SensorTuple = (
    String,
    f64,
    f64,
    Option<f64>,
    String,
    String,
    String,
    Option<&'static str>,
);

#[pymethods]
impl PyRegistry {
    /// Parse a registry CSV; `kind` is "camera" or "device".
    #[staticmethod]
    fn from_csv_bytes(py: Python<'_>, data: &[u8], source: &str, kind: &str) -> PyResult<Self> {
        let kind = match kind {
            "camera" => core::SensorKind::Camera,
            "device" => core::SensorKind::Device,
            other => {
                return Err(PyValueError::new_err(format!(
                    "kind must be \"camera\" or \"device\", not {other:?}"
                )))
            }
        };
        let inner = py
            .detach(|| core::Registry::from_csv(data, source, kind))
            .map_err(|e| {
                RegistryError::new_err((e.to_string(), e.source.clone(), e.line, e.message))
            })?;
        Ok(PyRegistry { inner })
    }

    /// "camera" or "device".
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner.kind() {
            core::SensorKind::Camera => "camera",
            core::SensorKind::Device => "device",
        }
    }

    /// The sensor with this id, or None.
    fn get(&self, id: &str) -> Option<SensorTuple> {
        self.inner.find(id).map(|i| {
            let s = self.inner.sensor(i);
            (
                s.id.clone(),
                s.location.lat,
                s.location.lon,
                s.heading_deg,
                s.site.clone(),
                s.municipality.clone(),
                s.region.clone(),
                s.device_kind.map(|k| k.as_str()),
            )
        })
    }

    /// Every sensor id, in file order.
    fn ids(&self) -> Vec<String> {
        self.inner.sensors().iter().map(|s| s.id.clone()).collect()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

fn batch_tuple(py: Python<'_>, out: core::BatchOutput) -> BatchTuple<'_> {
    let [plate, button, call] = out.accepted_by_source;
    let alerts = out.alerts.into_iter().map(|a| alert_tuple(py, a)).collect();
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
    (
        out.n_in,
        (plate, button, call),
        alerts,
        rejects,
        out.dropped_hits,
    )
}

impl PyEngine {
    /// Run the core over a list of `bytes`, routed or not.
    fn run(
        &self,
        py: Python<'_>,
        events: &Bound<'_, PyList>,
        now_ms: Option<i64>,
        routed: bool,
        archive: Option<core::Archive>,
    ) -> PyResult<(core::BatchOutput, Vec<Vec<u8>>, Option<core::Archive>)> {
        // A tuple copy keeps every item alive even if another thread mutates
        // the caller's list while the GIL is released; bytes are immutable, so
        // the borrowed slices cannot change. Work in chunks so the slice buffer
        // is reused and stays small (a 100k-entry Vec per call costs page faults).
        let items = events.to_tuple();
        let now = now_ms.unwrap_or_else(self::now_ms);
        let mut out = core::BatchOutput::default();
        let mut routes = routed.then(|| core::Routes::new(self.inner.config().incidents.shards));
        let mut archived = archive;
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
            py.detach(|| {
                self.inner.process_archived(
                    &slices,
                    start,
                    now,
                    &mut out,
                    routes.as_mut(),
                    archived.as_mut(),
                )
            });
        }
        let shards = routes.map(core::Routes::finish).unwrap_or_default();
        Ok((out, shards, archived))
    }
}

/// One shard of the incident stage (see `sisec_stream.incidents`).
#[pyclass(module = "sisec_stream._core", name = "ShardState")]
struct PyShardState {
    inner: core::incidents::ShardState,
}

fn incident_config(config_json: Option<&str>) -> PyResult<Arc<core::incidents::IncidentConfig>> {
    let config = match config_json {
        Some(json) => core::EngineConfig::from_json(json)
            .map_err(|e| ConfigError::new_err((e.to_string(), e.key)))?,
        None => core::EngineConfig::default(),
    };
    Ok(Arc::new(config.incident_stage()))
}

#[pymethods]
impl PyShardState {
    /// An empty shard for the engine config (JSON; None: defaults).
    #[new]
    #[pyo3(signature = (config_json = None))]
    fn new(config_json: Option<&str>) -> PyResult<Self> {
        Ok(PyShardState {
            inner: core::incidents::ShardState::new(incident_config(config_json)?),
        })
    }

    /// A shard from `snapshot()` bytes.
    #[staticmethod]
    #[pyo3(signature = (data, config_json = None))]
    fn restore(data: &[u8], config_json: Option<&str>) -> PyResult<Self> {
        let inner = core::incidents::ShardState::restore(incident_config(config_json)?, data)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(PyShardState { inner })
    }

    /// Apply signal batches (from `Engine.process_routed`); the pages and
    /// updates they cause.
    #[pyo3(signature = (batches, now_ms = None))]
    fn apply<'py>(
        &mut self,
        py: Python<'py>,
        batches: Vec<Vec<u8>>,
        now_ms: Option<i64>,
    ) -> PyResult<Vec<AlertTuple<'py>>> {
        let now = now_ms.unwrap_or_else(self::now_ms);
        let mut alerts = Vec::new();
        for b in &batches {
            self.inner
                .apply(b, now, &mut alerts)
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
        }
        Ok(alerts.into_iter().map(|a| alert_tuple(py, a)).collect())
    }

    /// The state as compact bytes.
    fn snapshot<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.snapshot())
    }

    /// (open plate incidents, devices, open call incidents, bytes).
    fn size(&self) -> (usize, usize, usize, usize) {
        let s = self.inner.size();
        (s.plates, s.devices, s.calls, s.bytes)
    }

    /// The shard's watermarks (epoch ms; None before any event of the kind):
    /// (plate reads, device events, calls).
    fn watermarks(&self) -> (Option<i64>, Option<i64>, Option<i64>) {
        let w = self.inner.watermarks();
        let known = |t: i64| (t > i64::MIN / 2).then_some(t);
        (known(w.plates), known(w.devices), known(w.calls))
    }
}

/// Zones (none: an empty set) and registries, each checked to be of its kind.
#[allow(clippy::type_complexity)]
fn places_args(
    zones: Option<&PyZones>,
    cameras: Option<&PyRegistry>,
    devices: Option<&PyRegistry>,
) -> PyResult<(
    Arc<core::Zones>,
    Option<core::Registry>,
    Option<core::Registry>,
)> {
    let registry = |r: Option<&PyRegistry>, kind: core::SensorKind, name: &str| match r {
        Some(r) if r.inner.kind() != kind => Err(PyValueError::new_err(format!(
            "{name} must be a registry of {name}, not of {}s",
            match kind {
                core::SensorKind::Camera => "device",
                core::SensorKind::Device => "camera",
            }
        ))),
        _ => Ok(r.map(|r| r.inner.clone())),
    };
    Ok((
        zones.map_or_else(Arc::default, |z| Arc::clone(&z.inner)),
        registry(cameras, core::SensorKind::Camera, "cameras")?,
        registry(devices, core::SensorKind::Device, "devices")?,
    ))
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
    #[pyo3(signature = (config_json = None, watchlist = None, zones = None, cameras = None, devices = None))]
    fn new(
        config_json: Option<&str>,
        watchlist: Option<&PyWatchlist>,
        zones: Option<&PyZones>,
        cameras: Option<&PyRegistry>,
        devices: Option<&PyRegistry>,
    ) -> PyResult<Self> {
        let config = match config_json {
            Some(json) => core::EngineConfig::from_json(json)
                .map_err(|e| ConfigError::new_err((e.to_string(), e.key)))?,
            None => core::EngineConfig::default(),
        };
        let watchlist = watchlist.map_or_else(
            || Arc::new(RwLock::new(core::Watchlist::new())),
            |w| Arc::clone(&w.inner),
        );
        let (zones, cameras, devices) = places_args(zones, cameras, devices)?;
        let inner = core::Engine::with_places(config, watchlist, zones, cameras, devices)
            .map_err(|e| ConfigError::new_err((e.to_string(), e.key)))?;
        Ok(PyEngine { inner })
    }

    /// Use these zones and registries from the next batch on (None: no zones,
    /// or no registry of that kind).
    #[pyo3(signature = (zones = None, cameras = None, devices = None))]
    fn set_places(
        &self,
        zones: Option<&PyZones>,
        cameras: Option<&PyRegistry>,
        devices: Option<&PyRegistry>,
    ) -> PyResult<()> {
        let (zones, cameras, devices) = places_args(zones, cameras, devices)?;
        self.inner
            .set_places(zones, cameras, devices)
            .map_err(|e| ConfigError::new_err((e.to_string(), e.key)))
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
    ) -> PyResult<BatchTuple<'py>> {
        let (out, _, _) = self.run(py, events, now_ms, false, None)?;
        Ok(batch_tuple(py, out))
    }

    /// Like `process`, but alert candidates, device events and calls become
    /// signal batches for the incident stage: returns the batch tuple (with no
    /// alerts), one `bytes` per shard, and with `archive` the accepted events
    /// as JSON lines, one `bytes` per source (plate reads, button presses,
    /// calls; else None). With `archive_key` (16 to 64 bytes; needs
    /// `archive`) plate reads are pseudonymised in those lines.
    #[pyo3(signature = (events, now_ms = None, archive = false, archive_key = None))]
    #[allow(clippy::type_complexity)]
    fn process_routed<'py>(
        &self,
        py: Python<'py>,
        events: &Bound<'py, PyList>,
        now_ms: Option<i64>,
        archive: bool,
        archive_key: Option<&[u8]>,
    ) -> PyResult<(
        BatchTuple<'py>,
        Vec<Bound<'py, PyBytes>>,
        Option<Vec<Bound<'py, PyBytes>>>,
    )> {
        let archive = match (archive, archive_key) {
            (false, None) => None,
            (true, None) => Some(core::Archive::new()),
            (true, Some(key)) => Some(core::Archive::with_key(
                core::PlateKey::new(key).map_err(|e| PyValueError::new_err(e.to_string()))?,
            )),
            (false, Some(_)) => {
                return Err(PyValueError::new_err(
                    "archive_key is given without archive=True",
                ))
            }
        };
        let (out, shards, archived) = self.run(py, events, now_ms, true, archive)?;
        let shards = shards.iter().map(|b| PyBytes::new(py, b)).collect();
        let archived = archived.map(|a| a.finish().iter().map(|b| PyBytes::new(py, b)).collect());
        Ok((batch_tuple(py, out), shards, archived))
    }

    /// Shards of the incident stage.
    #[getter]
    fn shards(&self) -> u16 {
        self.inner.config().incidents.shards
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
    m.add_class::<PyZones>()?;
    m.add_class::<PyRegistry>()?;
    m.add_class::<PyShardState>()?;
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
    m.add(
        "NON_EMERGENCY_CALL_TYPES",
        core::incidents::NON_EMERGENCY_CALL_TYPES.to_vec(),
    )?;
    Ok(())
}

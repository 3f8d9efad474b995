//! sisec-core: the pure-Rust heart of sisec-stream.
//!
//! Raw event bytes in, validated events, alerts and rejects out. This crate knows
//! nothing of Python and does no I/O (files arrive as byte slices, time arrives as
//! an argument), so it can be tested, fuzzed and benchmarked on its own.
//!
//! Modules mirror the public Python package: `event` (the contract), `watchlist`,
//! `zones`, `registry`, `places` (where an event happened), `alert`, `engine`; `plate`, `timestamp`, `json` and `reject` are the pieces they
//! share.

pub mod alert;
pub mod archive;
pub mod config;
pub mod engine;
pub mod event;
pub mod incidents;
pub mod json;
pub mod places;
pub mod plate;
pub mod priority;
pub mod registry;
pub mod reject;
pub mod timestamp;
pub mod watchlist;
pub mod zones;

pub use alert::{Alert, AlertKind};
pub use archive::{Archive, KeyLengthError, PlateKey};
pub use config::{ConfigError, EngineConfig, UnknownSensor};
pub use engine::{BatchOutput, Engine, RejectRecord, Routes};
pub use event::{parse_event, EventType};
pub use places::Places;
pub use plate::Plate;
pub use registry::{Registry, RegistryError, Sensor, SensorKind};
pub use reject::{Reason, Reject};
pub use watchlist::{
    EntrySpec, Hit, MatchKind, ReadQuery, Watchlist, WatchlistConfig, WatchlistError,
};
pub use zones::{Zone, Zones, ZonesError};

//! The stores generated from the example schemas by `build.rs`, with the value types their
//! schemas name. Each is included in its own module, as a user of keyschema-codegen would.

use serde::{Deserialize, Serialize};

/// A value type for JSON codecs the tests do not look inside.
pub type Opaque = serde_json::Value;

/// A thing with a state (`json(Thing)` in tests/schemas/copy_params.keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thing {
    /// `NEW` or `DONE`.
    pub state: String,
}

/// The job state document (`json(JobState)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    /// The state name.
    pub state: String,
    /// Which attempt.
    pub attempt: u32,
}

/// A job event (`json(JobEvent)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    /// The event's sequence number.
    pub seq: u32,
}

/// Job labels (`labels: json(Labels)`).
pub type Labels = std::collections::BTreeMap<String, String>;

macro_rules! opaque {
    ($($name:ident),* $(,)?) => {
        $(
            #[doc = concat!("The `", stringify!($name), "` document, left opaque by the tests.")]
            pub type $name = Opaque;
        )*
    };
}

opaque!(
    JobRequest,
    SafetyDecision,
    OutputDecision,
    WorkflowDefinition,
    WorkflowRun,
    TimelineEvent,
    SystemConfig,
    OrgConfig,
    TeamConfig,
    WorkflowConfig,
    StepConfig,
    ApiKeyRecord,
    UserRecord,
    AuthContext,
    DlqEntry,
    WorkerSnapshot,
    Asset,
);

/// `schema/examples/cordum.keys`.
pub mod cordum {
    include!(concat!(env!("OUT_DIR"), "/cordum.rs"));
}

/// `schema/examples/cordum-cluster.keys`.
pub mod cordum_cluster {
    include!(concat!(env!("OUT_DIR"), "/cordum_cluster.rs"));
}

/// `schema/examples/catalog.keys`.
pub mod catalog {
    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

/// The processing context of one datasource instance (`lz4(json(DatasourceContext))`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasourceContext {
    /// When the context was last updated, in Unix milliseconds (checked for staleness).
    pub updated_ms: i64,
    /// Prior values per datapoint.
    pub prior: std::collections::BTreeMap<String, f64>,
}

/// A codec of the service's own (`codec(OffsetCodec)`): an offset as 8 big-endian bytes.
pub struct OffsetCodec;

impl keyschema_store::Codec for OffsetCodec {
    type Value = u64;

    fn name() -> std::borrow::Cow<'static, str> {
        "codec(OffsetCodec)".into()
    }

    fn encode(value: &u64) -> Result<Vec<u8>, String> {
        Ok(value.to_be_bytes().to_vec())
    }

    fn decode(bytes: &[u8]) -> Result<u64, String> {
        let bytes: [u8; 8] = bytes
            .try_into()
            .map_err(|_| format!("an offset is 8 bytes, not {}", bytes.len()))?;
        Ok(u64::from_be_bytes(bytes))
    }
}

/// `schema/examples/state.keys`.
pub mod state {
    include!(concat!(env!("OUT_DIR"), "/state.rs"));
}

/// Device information (`json(DeviceInfo)` in `opensensor.keys`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: String,
    /// The API keys' ids that may write for it.
    pub api_keys: Vec<String>,
}

/// A device's readings of one collection (`json(CollectionData)`).
pub type CollectionData = Vec<f64>;

/// `schema/examples/opensensor.keys`.
pub mod opensensor {
    include!(concat!(env!("OUT_DIR"), "/opensensor.rs"));
}

/// A protobuf message (`proto(ProtoThing)` in `tests/schemas/every_shape.keys`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoThing {
    /// Its name.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `tests/schemas/every_shape.keys`: every shape the schema language allows.
pub mod shapes {
    include!(concat!(env!("OUT_DIR"), "/every_shape.rs"));
}

/// `schema/examples/cordum-cluster.keys`, bridged from `cordum.keys` (its previous layout).
pub mod cordum_cluster_bridged {
    include!(concat!(env!("OUT_DIR"), "/from_cordum/cordum_cluster.rs"));
}

/// `tests/schemas/bridge_v1.keys`: a layout before a change.
pub mod bridge_v1 {
    include!(concat!(env!("OUT_DIR"), "/bridge_v1.rs"));
}

/// `tests/schemas/bridge_v2.keys`, bridged from `bridge_v1.keys`.
pub mod bridge_v2 {
    include!(concat!(env!("OUT_DIR"), "/from_bridge_v1/bridge_v2.rs"));
}

//! Value codecs: how a key's value is stored. A value that fails to decode is an error naming
//! the key and the codec, never a panic or a silent default.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::borrow::Cow;
use std::marker::PhantomData;

/// How values of one kind are written to and read from Redis.
pub trait Codec {
    /// The Rust type of values.
    type Value;
    /// The codec as the schema names it (`json(JobState)`, `int`), for error messages.
    fn name() -> Cow<'static, str>;
    /// The bytes stored for `value`.
    fn encode(value: &Self::Value) -> Result<Vec<u8>, String>;
    /// The value of stored bytes.
    fn decode(bytes: &[u8]) -> Result<Self::Value, String>;
}

/// serde_json of `T`.
pub struct Json<T>(PhantomData<T>);

impl<T: Serialize + DeserializeOwned> Codec for Json<T> {
    type Value = T;

    fn name() -> Cow<'static, str> {
        let full = std::any::type_name::<T>();
        // `crate::model::JobState` reads as `json(JobState)`, as in the schema.
        let short = full.rsplit("::").next().unwrap_or(full);
        Cow::Owned(format!("json({short})"))
    }

    fn encode(value: &T) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }

    fn decode(bytes: &[u8]) -> Result<T, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// UTF-8 text.
pub struct Text;

impl Codec for Text {
    type Value = String;

    fn name() -> Cow<'static, str> {
        Cow::Borrowed("text")
    }

    fn encode(value: &String) -> Result<Vec<u8>, String> {
        Ok(value.as_bytes().to_vec())
    }

    fn decode(bytes: &[u8]) -> Result<String, String> {
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("not UTF-8: {e}"))
    }
}

/// Raw bytes.
pub struct Bytes;

impl Codec for Bytes {
    type Value = Vec<u8>;

    fn name() -> Cow<'static, str> {
        Cow::Borrowed("bytes")
    }

    fn encode(value: &Vec<u8>) -> Result<Vec<u8>, String> {
        Ok(value.clone())
    }

    fn decode(bytes: &[u8]) -> Result<Vec<u8>, String> {
        Ok(bytes.to_vec())
    }
}

/// A signed 64-bit integer in decimal: what INCR reads and writes.
pub struct Int;

impl Codec for Int {
    type Value = i64;

    fn name() -> Cow<'static, str> {
        Cow::Borrowed("int")
    }

    fn encode(value: &i64) -> Result<Vec<u8>, String> {
        Ok(value.to_string().into_bytes())
    }

    fn decode(bytes: &[u8]) -> Result<i64, String> {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| format!("{:?} is not a decimal integer", String::from_utf8_lossy(bytes)))
    }
}

/// A float in decimal.
pub struct Float;

impl Codec for Float {
    type Value = f64;

    fn name() -> Cow<'static, str> {
        Cow::Borrowed("float")
    }

    fn encode(value: &f64) -> Result<Vec<u8>, String> {
        Ok(value.to_string().into_bytes())
    }

    fn decode(bytes: &[u8]) -> Result<f64, String> {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| format!("{:?} is not a decimal number", String::from_utf8_lossy(bytes)))
    }
}

/// Binary protobuf of a prost message.
pub struct Proto<T>(PhantomData<T>);

impl<T: prost::Message + Default> Codec for Proto<T> {
    type Value = T;

    fn name() -> Cow<'static, str> {
        let full = std::any::type_name::<T>();
        Cow::Owned(format!("proto({})", full.rsplit("::").next().unwrap_or(full)))
    }

    fn encode(value: &T) -> Result<Vec<u8>, String> {
        Ok(value.encode_to_vec())
    }

    fn decode(bytes: &[u8]) -> Result<T, String> {
        T::decode(bytes).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct JobState {
        state: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct JobRequest {
        #[prost(string, tag = "1")]
        topic: String,
        #[prost(uint32, tag = "2")]
        priority: u32,
    }

    #[test]
    fn protobuf_round_trips_and_rejects_garbage() {
        let request = JobRequest {
            topic: "jobs".into(),
            priority: 3,
        };
        let bytes = Proto::<JobRequest>::encode(&request).unwrap();
        assert_eq!(Proto::<JobRequest>::decode(&bytes).unwrap(), request);
        assert_eq!(Proto::<JobRequest>::name(), "proto(JobRequest)");
        assert!(Proto::<JobRequest>::decode(b"\xff\xff\xff").is_err());
    }

    #[test]
    fn codecs_round_trip_and_name_themselves_like_the_schema() {
        let value = JobState {
            state: "RUNNING".into(),
        };
        let bytes = Json::<JobState>::encode(&value).unwrap();
        assert_eq!(Json::<JobState>::decode(&bytes).unwrap(), value);
        assert_eq!(Json::<JobState>::name(), "json(JobState)");
        assert_eq!(Int::decode(b"-42").unwrap(), -42);
        assert!(Int::decode(b"4x").unwrap_err().contains("not a decimal integer"));
        assert!(Text::decode(b"\xff").is_err());
    }
}

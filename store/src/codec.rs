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

/// Another codec's bytes compressed with LZ4 (`lz4(json(T))`): the uncompressed length (4 bytes,
/// little-endian) and an LZ4 block. A stored value that is not such a block, or that claims more
/// than LZ4 can expand it to, is a decode error, never a large allocation.
pub struct Lz4<C>(PhantomData<C>);

/// LZ4 expands at most about 255 times (one literal-length byte per 255 bytes of a run).
const LZ4_MAX_RATIO: usize = 255;

impl<C: Codec> Codec for Lz4<C> {
    type Value = C::Value;

    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("lz4({})", C::name()))
    }

    fn encode(value: &C::Value) -> Result<Vec<u8>, String> {
        Ok(lz4_flex::block::compress_prepend_size(&C::encode(value)?))
    }

    fn decode(bytes: &[u8]) -> Result<C::Value, String> {
        let Some((size, block)) = bytes.split_first_chunk::<4>() else {
            return Err(format!("{} bytes is too short for an LZ4 value", bytes.len()));
        };
        let size = u32::from_le_bytes(*size) as usize;
        if size > block.len().saturating_mul(LZ4_MAX_RATIO).saturating_add(16) {
            return Err(format!(
                "corrupt LZ4 value: claims {size} bytes from a {}-byte block",
                block.len()
            ));
        }
        let plain = lz4_flex::block::decompress(block, size).map_err(|e| format!("corrupt LZ4 value: {e}"))?;
        C::decode(&plain)
    }
}

/// A struct stored as a hash, one field per declared field (generated code implements it).
pub trait HashRecord: Sized {
    /// The fields and their encoded values; `None` values are left out.
    fn to_fields(&self, key: &str) -> crate::error::Result<Vec<(&'static str, Vec<u8>)>>;
    /// The record from the fields Redis returned; unknown fields are ignored.
    fn from_fields(key: &str, fields: Vec<(String, Vec<u8>)>) -> crate::error::Result<Self>;
}

/// A sorted-set score with a meaning: seconds or milliseconds since the epoch, an integer, a float.
pub trait Score: Sized {
    /// The score Redis stores.
    fn to_score(&self) -> f64;
    /// The value of a stored score.
    fn from_score(score: f64) -> Self;
}

impl Score for f64 {
    fn to_score(&self) -> f64 {
        *self
    }
    fn from_score(score: f64) -> Self {
        score
    }
}

impl Score for i64 {
    fn to_score(&self) -> f64 {
        // Scores are doubles: integers beyond 2^53 lose precision, as in Redis itself.
        *self as f64
    }
    fn from_score(score: f64) -> Self {
        score as Self
    }
}

/// Encodes with `C`, naming the key in the error.
pub(crate) fn encode<C: Codec>(key: &str, value: &C::Value) -> crate::error::Result<Vec<u8>> {
    let bytes = C::encode(value).map_err(|reason| crate::error::Error::Encode {
        key: key.to_string(),
        codec: C::name().into_owned(),
        reason,
    })?;
    crate::recording::bytes_out(bytes.len());
    Ok(bytes)
}

/// Decodes with `C`, naming the key in the error.
pub(crate) fn decode<C: Codec>(key: &str, bytes: &[u8]) -> crate::error::Result<C::Value> {
    crate::recording::bytes_in(bytes.len());
    C::decode(bytes).map_err(|reason| crate::error::Error::Decode {
        key: key.to_string(),
        codec: C::name().into_owned(),
        reason,
    })
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
    fn lz4_round_trips_and_rejects_corrupt_values_without_allocating_their_claim() {
        let state = JobState {
            state: "RUNNING".repeat(100),
        };
        let bytes = Lz4::<Json<JobState>>::encode(&state).unwrap();
        assert!(bytes.len() < 100, "compressed to {} bytes", bytes.len());
        assert_eq!(Lz4::<Json<JobState>>::decode(&bytes).unwrap(), state);
        assert_eq!(Lz4::<Json<JobState>>::name(), "lz4(json(JobState))");
        // A claim of 4 GiB from a few bytes is refused before any allocation.
        let error = Lz4::<Bytes>::decode(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).unwrap_err();
        assert!(error.contains("corrupt LZ4 value"), "{error}");
        assert!(Lz4::<Bytes>::decode(&[1, 0]).unwrap_err().contains("too short"));
        let mut flipped = bytes.clone();
        flipped[6] ^= 0xff;
        flipped.truncate(flipped.len() - 3);
        assert!(Lz4::<Json<JobState>>::decode(&flipped).is_err());
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

//! What the property tests share: JSON trees as a peer might send them.

use proptest::prelude::*;
use serde_json::Value;

/// Any JSON value up to four levels deep, with object keys from `key` and strings from `string`,
/// and numbers of every kind JSON carries (negative, past `i64`, fractions).
pub fn json(key: BoxedStrategy<String>, string: BoxedStrategy<String>) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        decimal().prop_map(Value::from),
        string.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Any string: every Unicode scalar value, control characters included.
pub fn any_text(max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter).boxed()
}

/// A fraction with at most 9 significant digits (a temperature, a delay, a multiplier): what
/// crosses IPC. Not any `f64`: without its `float_roundtrip` feature serde_json reads some
/// numbers back one ULP off (`9.479838706366434e-35` comes back `…433e-35`), which no value of
/// ours comes near.
pub fn decimal() -> impl Strategy<Value = f64> {
    (-999_999_999i64..=999_999_999, 0..=9i32).prop_map(|(m, k)| m as f64 / 10f64.powi(k))
}

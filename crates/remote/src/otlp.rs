//! OTLP metrics messages (`opentelemetry/proto/collector/metrics/v1`, `metrics/v1`, `common/v1`,
//! `resource/v1` of open-telemetry/opentelemetry-proto): what an OTLP/HTTP protobuf export carries.
//! Exponential histograms, exemplars and metadata are skipped when decoding.

use crate::error::RemoteError;

/// `ExportMetricsServiceRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceRequest {
    /// Metrics by resource.
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

/// `ResourceMetrics`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceMetrics {
    /// The resource (service, host...).
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Metrics by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

/// `Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// Its attributes.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeMetrics`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeMetrics {
    /// The metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

/// `Metric`: a name, a unit and one kind of data.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// The OTLP name (`http.server.duration`).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Description.
    #[prost(string, tag = "2")]
    pub description: String,
    /// UCUM unit (`s`, `By`, `1`, `{request}`).
    #[prost(string, tag = "3")]
    pub unit: String,
    /// A gauge.
    #[prost(message, optional, tag = "5")]
    pub gauge: Option<Gauge>,
    /// A sum.
    #[prost(message, optional, tag = "7")]
    pub sum: Option<Sum>,
    /// An explicit-bucket histogram.
    #[prost(message, optional, tag = "9")]
    pub histogram: Option<Histogram>,
    /// An exponential histogram: only its presence is decoded (it is not supported).
    #[prost(message, optional, tag = "10")]
    pub exponential_histogram: Option<Empty>,
    /// A summary.
    #[prost(message, optional, tag = "11")]
    pub summary: Option<Summary>,
}

/// A message whose fields are all skipped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `Gauge`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Gauge {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

/// `Sum`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sum {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    /// 1 delta, 2 cumulative.
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    /// A counter when true.
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

/// `Histogram`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<HistogramDataPoint>,
    /// 1 delta, 2 cumulative.
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
}

/// `Summary`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// Points.
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<SummaryDataPoint>,
}

/// `AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA`.
pub const DELTA: i32 = 1;

/// `NumberDataPoint`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NumberDataPoint {
    /// Attributes (become labels).
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// Nanoseconds since the epoch.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// A float value.
    #[prost(double, optional, tag = "4")]
    pub as_double: Option<f64>,
    /// An integer value.
    #[prost(sfixed64, optional, tag = "6")]
    pub as_int: Option<i64>,
    /// Bit 0: no recorded value (a stale marker).
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// `HistogramDataPoint`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistogramDataPoint {
    /// Attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Nanoseconds since the epoch.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Observations.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// Their sum, when known.
    #[prost(double, optional, tag = "5")]
    pub sum: Option<f64>,
    /// Per-bucket (not cumulative) counts; one more than the bounds.
    #[prost(fixed64, repeated, tag = "6")]
    pub bucket_counts: Vec<u64>,
    /// Upper bounds.
    #[prost(double, repeated, tag = "7")]
    pub explicit_bounds: Vec<f64>,
    /// Bit 0: no recorded value.
    #[prost(uint32, tag = "10")]
    pub flags: u32,
}

/// `SummaryDataPoint`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryDataPoint {
    /// Attributes.
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    /// Nanoseconds since the epoch.
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    /// Observations.
    #[prost(fixed64, tag = "4")]
    pub count: u64,
    /// Their sum.
    #[prost(double, tag = "5")]
    pub sum: f64,
    /// Quantiles.
    #[prost(message, repeated, tag = "6")]
    pub quantile_values: Vec<ValueAtQuantile>,
    /// Bit 0: no recorded value.
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// `SummaryDataPoint.ValueAtQuantile`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueAtQuantile {
    /// The quantile, 0 to 1.
    #[prost(double, tag = "1")]
    pub quantile: f64,
    /// Its value.
    #[prost(double, tag = "2")]
    pub value: f64,
}

/// `KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue` (arrays and maps are skipped: they become empty strings).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// A string.
    #[prost(string, optional, tag = "1")]
    pub string_value: Option<String>,
    /// A boolean.
    #[prost(bool, optional, tag = "2")]
    pub bool_value: Option<bool>,
    /// An integer.
    #[prost(int64, optional, tag = "3")]
    pub int_value: Option<i64>,
    /// A float.
    #[prost(double, optional, tag = "4")]
    pub double_value: Option<f64>,
}

impl AnyValue {
    /// The value as a label value.
    pub fn as_label(&self) -> String {
        if let Some(s) = &self.string_value {
            s.clone()
        } else if let Some(b) = self.bool_value {
            b.to_string()
        } else if let Some(i) = self.int_value {
            i.to_string()
        } else if let Some(d) = self.double_value {
            d.to_string()
        } else {
            String::new()
        }
    }
}

/// `ExportMetricsServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportResponse {
    /// Set when some points were refused.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<PartialSuccess>,
}

/// `ExportMetricsPartialSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PartialSuccess {
    /// Points refused.
    #[prost(int64, tag = "1")]
    pub rejected_data_points: i64,
    /// Why, for a person.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

impl ExportMetricsServiceRequest {
    /// Decodes an uncompressed request.
    pub fn decode_bytes(b: &[u8]) -> Result<Self, RemoteError> {
        <Self as prost::Message>::decode(b).map_err(|source| RemoteError::Protobuf {
            message: "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_hand_encoded_gauge() {
        // NumberDataPoint: time (3, fixed64) = 2_000_000, as_double (4) = 1.5.
        let mut dp = vec![0x19];
        dp.extend_from_slice(&2_000_000u64.to_le_bytes());
        dp.push(0x21);
        dp.extend_from_slice(&1.5f64.to_le_bytes());
        let mut gauge = vec![0x0a, dp.len() as u8];
        gauge.extend_from_slice(&dp);
        let mut metric = vec![0x0a, 0x01, b'g', 0x2a, gauge.len() as u8];
        metric.extend_from_slice(&gauge);
        let mut scope = vec![0x12, metric.len() as u8];
        scope.extend_from_slice(&metric);
        let mut rm = vec![0x12, scope.len() as u8];
        rm.extend_from_slice(&scope);
        let mut req = vec![0x0a, rm.len() as u8];
        req.extend_from_slice(&rm);
        let r = ExportMetricsServiceRequest::decode_bytes(&req).unwrap();
        let m = &r.resource_metrics[0].scope_metrics[0].metrics[0];
        assert_eq!(m.name, "g");
        let p = &m.gauge.as_ref().unwrap().data_points[0];
        assert_eq!((p.time_unix_nano, p.as_double), (2_000_000, Some(1.5)));
    }
}

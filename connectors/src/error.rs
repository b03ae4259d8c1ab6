use datafusion::common::DataFusionError;

/// Why a source could not be opened. Each names the source; none carries a
/// secret (option values never enter an error).
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("source \"{source_name}\": invalid URL {url:?}: {reason}")]
    InvalidUrl {
        source_name: String,
        url: String,
        reason: String,
    },
    #[error("source \"{source_name}\": unknown option \"{key}\" for {scheme}:// URLs")]
    UnknownOption {
        source_name: String,
        key: String,
        scheme: String,
    },
    #[error("source \"{source_name}\": cannot open the object store: {reason}")]
    ObjectStore { source_name: String, reason: String },
    #[error("source \"{source_name}\": {context}")]
    DataFusion {
        source_name: String,
        context: String,
        #[source]
        error: DataFusionError,
    },
}

pub use crate::model::mirror::*;
pub use crate::model::time::{generalized_from_iso, generalized_time};

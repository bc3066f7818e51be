//! CLOSE lives with CREATE (`create::CloseRequest`), sharing NetworkOpenInfo.
pub use crate::create::{encode_close_response, CloseRequest, CLOSE_FLAG_POSTQUERY_ATTRIB};

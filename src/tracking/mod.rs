//! The tracker: camera frames to face, iris, body and hand landmarks with MediaPipe's
//! models run through ONNX Runtime (MediaPipe Holistic's pipeline, re-implemented).

pub mod image;
pub mod image_to_tensor;
pub mod roi;

//! A transaction's write takes the key's typed handle, which carries its codec: text written into
//! the `json(JobState)` key `job:state:<jobID>` does not compile.

use keyschema_tests::generated::cordum::{CordumStore, JobId};

async fn write_text_into_a_json_key(store: CordumStore, job: JobId) -> keyschema_store::Result<()> {
    let state = store.job_state(job)?;
    let mut tx = store.store().transaction();
    tx.set(&state, &"not json".to_string())?;
    tx.execute().await
}

fn main() {
    drop(write_text_into_a_json_key);
}

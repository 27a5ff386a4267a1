//! Evaluator calls: a fresh instance per evaluation (evaluations run off the
//! request path, so the instantiation cost is not a client's), `evaluate`
//! under the evaluator deadline with model calls (a judge's) through the
//! host, whose wait is given back to the deadline. Never sees a provider
//! key and never touches the network.

use std::sync::Arc;

use super::fault::{bad_return, classify_trap};
use super::plugin::Pre;
use super::{Completer, Plugin, PluginError, Runtime};
use crate::wit::{EvalInput, Score};

impl Runtime {
    /// Score one answer with an evaluator. `config` (the evaluator's config
    /// in the gateway config) replaces the plugin's own config when given.
    /// An `Ok(Err(..))` is the evaluator saying it could not score.
    pub async fn evaluate(
        &self,
        plugin: &Plugin,
        config: Option<Arc<str>>,
        input: EvalInput,
        completer: Option<Arc<dyn Completer>>,
    ) -> Result<Result<Vec<Score>, String>, PluginError> {
        let Pre::Evaluator(pre) = &plugin.pre else {
            return Err(bad_return(plugin, "not an evaluator plugin"));
        };
        let deadline = self.caps.evaluator_deadline;
        let mut store = self.store(plugin, config, deadline);
        let bindings = match pre.instantiate_async(&mut store).await {
            Ok(b) => b,
            Err(e) => return Err(classify_trap(&plugin.name, &store, e, deadline)),
        };
        {
            let data = store.data_mut();
            data.call_started = Some(std::time::Instant::now());
            data.completer = completer;
        }
        let result = async {
            let input = store.data_mut().table.push(input)?;
            bindings
                .switchyard_plugin_evaluator()
                .call_evaluate(&mut store, input)
                .await
        }
        .await;
        match result {
            Ok(Ok(scores)) => {
                if let Some(bad) = scores
                    .iter()
                    .find(|s| !(0.0..=1.0).contains(&s.value) || s.name.is_empty())
                {
                    return Err(bad_return(
                        plugin,
                        &format!(
                            "score `{}` = {} is not a named value in 0..1",
                            bad.name, bad.value
                        ),
                    ));
                }
                Ok(Ok(scores))
            }
            Ok(Err(e)) => Ok(Err(e)),
            Err(e) => Err(classify_trap(&plugin.name, &store, e, deadline)),
        }
    }
}

// The `task-router` routing policy as a JavaScript component (world
// `policy-plugin` of wit/), built with componentize-qjs (QuickJS): see
// build.mjs. The decision lives in logic.js; this file reads the request
// through the host's request view and answers. A thrown string is the
// policy's error result (the host then uses the route's static order).

import { configJson } from "switchyard:plugin/host@0.2.0";
import { ConfigError, decide, parseConfig } from "./logic.js";

// The host may keep an instance warm for many decisions of one route: parse
// the route's config (and compile its regexes) once per instance.
let parsed = null;
function currentConfig() {
  const text = configJson();
  if (parsed === null || parsed.text !== text) {
    parsed = { text, config: parseConfig(text) };
  }
  return parsed.config;
}

export const policy = {
  observe(_outcome) {},

  route(req, candidates) {
    let config;
    try {
      config = currentConfig();
    } catch (e) {
      throw e instanceof ConfigError ? e.message : String(e);
    }
    const request = {
      lastUser: config.readsText ? req.lastUserMessage() : null,
      tokenEstimate: req.tokenEstimate(),
      hasTools: req.hasTools(),
      hasImages: req.hasImages(),
      wantsJson: req.wantsJson(),
      stream: req.stream(),
      metadata: config.readsMetadata ? req.metadata() : [],
    };
    const cands = candidates.map((c) => ({ model: c.model, open: c.stats.breaker === "open" }));
    const plan = decide(config, request, cands);
    return {
      attempts: plan.order.map((i) => ({ candidate: i, timeoutMs: null, maxTokens: null, temperature: null })),
      labels: plan.labels,
    };
  },
};

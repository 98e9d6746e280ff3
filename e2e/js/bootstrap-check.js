'use strict';
// Reads, on stdin, bootstrap documents served by statsigmw.Bootstrap and
// evaluates each with the real @statsig/js-client, offline, as a browser page
// would. Prints one JSON object on stdout:
//
//   {"clientVersion": "3.33.5", "results": [{"id", "experiments": {name:
//   {"group", "param", "reason"}}, "gates": {name: {"value", "reason"}},
//   "initReason"}]}
//
// Input: {"experiments": [{"name", "param"}], "gates": [name],
// "visitors": [{"id", "doc": {"user", "data"}, "variant"}]}. variant is
// empty for the documented use; the other values misuse the document on
// purpose, so that the test shows what each mistake costs:
//   "noStableID"  the user without customIDs.stableID
//   "idsOnly"     a user rebuilt from the userID and customIDs alone
//   "dataObject"  data handed to setData as an object, not a string

const fs = require('fs');
const { StatsigClient } = require('@statsig/js-client');
const clientVersion = require('@statsig/js-client/package.json').version;

// Any client key works offline; the data adapter files values under a key
// derived from it, the user's userID and its customIDs.
const clientKey = 'client-statsigmw-e2e';

// prepare returns the user and data to hand the client: for the documented
// use, the document's user as it is and its data serialised (setData takes
// the string), or one of the misuses.
function prepare(doc, variant) {
  if (!variant) {
    return { user: doc.user, data: JSON.stringify(doc.data) };
  }
  let user = JSON.parse(JSON.stringify(doc.user));
  let data = JSON.stringify(doc.data);
  switch (variant) {
    case 'noStableID':
      delete user.customIDs.stableID;
      break;
    case 'idsOnly':
      user = { userID: user.userID, customIDs: user.customIDs };
      break;
    case 'dataObject':
      data = doc.data;
      break;
    default:
      throw new Error(`unknown variant ${JSON.stringify(variant)}`);
  }
  return { user, data };
}

async function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const results = [];
  for (const v of input.visitors) {
    const { user, data } = prepare(v.doc, v.variant);
    const client = new StatsigClient(clientKey, user, {
      networkConfig: { preventAllNetworkTraffic: true },
    });
    client.dataAdapter.setData(data);
    const details = client.initializeSync();

    const experiments = {};
    for (const e of input.experiments) {
      const exp = client.getExperiment(e.name);
      experiments[e.name] = {
        group: exp.groupName,
        param: exp.get(e.param, null),
        reason: exp.details.reason,
      };
    }
    const gates = {};
    for (const name of input.gates) {
      const g = client.getFeatureGate(name);
      gates[name] = { value: g.value, reason: g.details.reason };
    }
    results.push({
      id: v.id,
      initReason: details.source,
      experiments,
      gates,
    });
    await client.shutdown();
  }
  process.stdout.write(JSON.stringify({ clientVersion, results }));
}

main().catch((e) => {
  process.stderr.write(`bootstrap-check: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});

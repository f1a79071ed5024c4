#!/usr/bin/env node
// dynalite on loopback for chat-dynamo's tests, plus the one API it lacks: TransactWriteItems.
//
// dynalite (pinned in package.json) implements DynamoDB's item and table APIs, but not
// transactions (its README lists them as TODO), and the directory enforces name and key
// uniqueness with TransactWriteItems. This file adds that operation with DynamoDB's
// semantics as far as the directory relies on them:
//   - every element is validated as dynalite validates the matching single-item call;
//   - two elements on one item, or more than 100 elements, are a ValidationException;
//   - every condition is evaluated against the items as they are; if any fails, nothing is
//     written and the answer is a TransactionCanceledException whose CancellationReasons
//     name, per element in order, "ConditionalCheckFailed" or "None";
//   - otherwise every write is applied, atomically with respect to every other request,
//     because this server handles one request at a time (a test server: simplicity over
//     throughput). DynamoDB's TransactionConflict never happens here.
// Each write is then carried out by dynalite's own PutItem/UpdateItem/DeleteItem code, so
// indexes (the by_account GSI) are kept as dynalite keeps them.
//
// Usage: node server.js [--port N] [--host 127.0.0.1] [dynalite options]
//        prints "listening on http://HOST:PORT" once ready.
'use strict'

const http = require('http')
const crypto = require('crypto')
const db = require('dynalite/db')
const validations = require('dynalite/validations')

// Capture the store dynalite creates, so transactions can read and write the same tables.
let store
const createStore = db.create
db.create = function (options) {
  store = createStore(options)
  return store
}

// Serialize every request: a transaction is then atomic with respect to all of them.
let tail = Promise.resolve()
function serially (work) {
  tail = tail.then(() => new Promise((resolve) => {
    let done = false
    const finish = () => { if (!done) { done = true; resolve() } }
    try { work(finish) }
    catch (err) { console.error('[server.js] request failed:', err); finish() }
  }))
}

const createServer = http.createServer
http.createServer = function (handler) {
  return createServer.call(http, function (req, res) {
    serially((finish) => {
      res.on('finish', finish)
      res.on('close', finish)
      const target = req.headers['x-amz-target'] || ''
      if (target === 'DynamoDB_20120810.TransactWriteItems') transactHttp(req, res)
      else handler(req, res)
    })
  })
}

function send (res, status, body) {
  const text = JSON.stringify(body)
  res.statusCode = status
  res.setHeader('x-amzn-RequestId', crypto.randomBytes(26).toString('hex').toUpperCase())
  res.setHeader('Content-Type', 'application/x-amz-json-1.0')
  res.setHeader('Content-Length', Buffer.byteLength(text, 'utf8'))
  res.end(text)
}

function validation (message) {
  return { status: 400, body: { __type: 'com.amazon.coral.validate#ValidationException', message } }
}

function transactHttp (req, res) {
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => {
    let data
    try { data = JSON.parse(Buffer.concat(chunks).toString() || 'null') }
    catch { return send(res, 400, { __type: 'com.amazon.coral.service#SerializationException' }) }
    transact(data).then(
      ({ status, body }) => send(res, status, body),
      (err) => {
        if (err && err.statusCode) return send(res, err.statusCode, err.body)
        console.error('[server.js] transaction failed:', err)
        send(res, 500, { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: String(err) })
      })
  })
}

const rules = {
  Put: require('dynalite/validations/putItem'),
  Update: require('dynalite/validations/updateItem'),
  Delete: require('dynalite/validations/deleteItem'),
  ConditionCheck: require('dynalite/validations/deleteItem'),
}
const writers = {
  Put: require('dynalite/actions/putItem'),
  Update: require('dynalite/actions/updateItem'),
  Delete: require('dynalite/actions/deleteItem'),
}

const call = (fn, ...args) => new Promise((resolve, reject) =>
  fn(...args, (err, value) => (err ? reject(err) : resolve(value))))

async function transact (data) {
  const elements = data && data.TransactItems
  if (!Array.isArray(elements) || elements.length < 1 || elements.length > 100) {
    return validation('1 validation error detected: Value at \'transactItems\' failed to satisfy ' +
      'constraint: Member must have length between 1 and 100')
  }
  const ops = []
  for (const element of elements) {
    const kinds = Object.keys(element || {}).filter((k) => k in rules)
    if (kinds.length !== 1) return validation('each TransactItem must have exactly one of Put, Update, Delete, ConditionCheck')
    const kind = kinds[0]
    let sub = Object.assign({}, element[kind])
    if (kind === 'ConditionCheck' && !sub.ConditionExpression) return validation('ConditionCheck needs a ConditionExpression')
    sub = validations.checkTypes(sub, rules[kind].types)
    validations.checkValidations(sub, rules[kind].types, rules[kind].custom, store)
    const table = await call(store.getTable.bind(store), sub.TableName)
    const keyed = kind === 'Put' ? sub.Item : sub.Key
    const invalid = kind === 'Put' ? db.validateItem(keyed, table) : db.validateKey(keyed, table)
    if (invalid) throw invalid
    ops.push({ kind, data: sub, key: db.createKey(keyed, table) })
  }
  const seen = new Set()
  for (const op of ops) {
    const id = op.data.TableName + '\u0000' + op.key
    if (seen.has(id)) return validation('Transaction request cannot include multiple operations on one item')
    seen.add(id)
  }
  const reasons = []
  for (const op of ops) {
    const existing = await new Promise((resolve, reject) =>
      store.getItemDb(op.data.TableName).get(op.key, (err, item) =>
        (err && err.name !== 'NotFoundError' ? reject(err) : resolve(item))))
    const failed = db.checkConditional(op.data, existing)
    reasons.push(failed ? { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' } : { Code: 'None' })
  }
  if (reasons.some((r) => r.Code !== 'None')) {
    return {
      status: 400,
      body: {
        __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
        message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [' +
          reasons.map((r) => r.Code).join(', ') + ']',
        CancellationReasons: reasons,
      },
    }
  }
  for (const op of ops) {
    if (op.kind !== 'ConditionCheck') await call(writers[op.kind], store, op.data)
  }
  return { status: 200, body: {} }
}

// `--name value` pairs; numbers become numbers (dynalite's createTableMs and the like).
const argv = {}
const args = process.argv.slice(2)
for (let i = 0; i < args.length; i += 2) {
  if (!args[i].startsWith('--') || args[i + 1] === undefined) {
    console.error('usage: node server.js [--port N] [--host ADDR] [--createTableMs MS] ...')
    process.exit(2)
  }
  const value = args[i + 1]
  argv[args[i].slice(2)] = /^[0-9]+$/.test(value) ? Number(value) : value
}
const host = argv.host || '127.0.0.1'
const server = require('dynalite')(argv)
server.listen(argv.port === undefined ? 0 : argv.port, host, () => {
  console.log('listening on http://%s:%d', host, server.address().port)
})
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))

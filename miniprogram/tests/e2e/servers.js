// Start the real Flask server (SQLite + local photo storage) and the fake WeChat API on
// 127.0.0.1 for the end-to-end test, with their output in log files, and stop them again.

const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')
const { spawn, spawnSync } = require('child_process')
const { send } = require('./node-wx')

const MINIPROGRAM = path.resolve(__dirname, '..', '..')
const REPO = path.resolve(MINIPROGRAM, '..')

/** The Python with the server's dependencies: $E2E_PYTHON, else the repo's .venv. */
function python() {
  if (process.env.E2E_PYTHON) return process.env.E2E_PYTHON
  const venv = path.join(REPO, '.venv', 'bin', 'python')
  if (fs.existsSync(venv)) return venv
  throw new Error(
    `no Python for the server: set E2E_PYTHON or create ${venv} (bash scripts/test.sh does)`
  )
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = srv.address().port
      srv.close(() => resolve(port))
    })
  })
}

function run(py, args, env) {
  const r = spawnSync(py, args, { cwd: REPO, env, encoding: 'utf8' })
  if (r.status !== 0)
    throw new Error(`${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

// The first stdout line of the fake WeChat is its URL.
function firstLine(child, what, timeoutMs) {
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`${what} did not start`)), timeoutMs)
    child.stdout.on('data', d => {
      buf += d.toString()
      const nl = buf.indexOf('\n')
      if (nl >= 0) {
        clearTimeout(timer)
        resolve(buf.slice(0, nl).trim())
      }
    })
    child.on('exit', code => {
      clearTimeout(timer)
      reject(new Error(`${what} exited with ${code}`))
    })
  })
}

async function waitHealthy(url, child, logFile, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break
    try {
      const res = await send(url, { method: 'GET', headers: {} })
      if (res.statusCode === 200) return
    } catch (e) {
      // not listening yet
    }
    await new Promise(r => setTimeout(r, 100))
  }
  const tail = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-4000) : ''
  throw new Error(`the server did not become healthy at ${url}\n${tail}`)
}

function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode) return Promise.resolve()
  return new Promise(resolve => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

// What the template below is kept under: tests/e2e/global-setup.js sets it once per jest run.
const TEMPLATE_ENV = 'E2E_SERVER_TEMPLATE'

/** The settings of a server on `folder` (its database, photos, instance) with the fake WeChat at `wechatUrl`. */
function serverEnv(folder, secretKey, wechatUrl) {
  return Object.assign({}, process.env, {
    APP_ENV: 'development',
    SECRET_KEY: secretKey,
    DATABASE_URL: `sqlite:///${path.join(folder, 'e2e.db')}`,
    STORAGE_BACKEND: 'local',
    STORAGE_DIR: path.join(folder, 'storage'),
    INSTANCE_DIR: path.join(folder, 'instance'),
    WECHAT_APPID: 'wx-test-appid',
    WECHAT_SECRET: 'test-secret',
    WECHAT_API_BASE: wechatUrl || 'http://127.0.0.1:9',
    PUBLIC_BASE_URL: '',
    FLASK_DEBUG: '0',
    PYTHONUNBUFFERED: '1'
  })
}

/**
 * A migrated database with its admin account, made as the department makes one (`flask init-db`,
 * `flask create-user`) in a new folder; returns {folder, secretKey, adminPassword}. The data key is
 * the secret key (development), so a server given the same secret reads what was written here.
 */
function makeTemplate(py) {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'mp-e2e-template-'))
  const secretKey = 'e2e-' + Date.now() + '-' + Math.random().toString(36).slice(2)
  const adminPassword = 'e2e-admin-' + Math.random().toString(36).slice(2)
  const env = serverEnv(folder, secretKey, null)
  try {
    run(py, ['-m', 'flask', '--app', 'server', 'init-db'], env)
    run(
      py,
      [
        '-m',
        'flask',
        '--app',
        'server',
        'create-user',
        '--username',
        'admin',
        '--password',
        adminPassword,
        '--role',
        'admin'
      ],
      env
    )
  } catch (e) {
    fs.rmSync(folder, { recursive: true, force: true })
    throw e
  }
  return { folder, secretKey, adminPassword }
}

/**
 * The template of this jest run (global-setup.js), else one made now. Each end-to-end file gets a
 * copy of its database: the three files need not run migrations and hash a password each.
 */
function template(py) {
  const saved = process.env[TEMPLATE_ENV]
  if (saved) return { template: JSON.parse(fs.readFileSync(saved, 'utf8')), owned: false }
  return { template: makeTemplate(py), owned: true }
}

/** Start fake WeChat + Flask; returns {apiBase, wechatUrl, tmp, logFile, py, stop()}. */
async function startServers() {
  const py = python()
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mp-e2e-'))
  const artifacts = path.join(MINIPROGRAM, 'test-artifacts')
  fs.mkdirSync(artifacts, { recursive: true })
  const logFile = path.join(artifacts, 'e2e-server.log')
  const wechatLog = path.join(artifacts, 'e2e-fake-wechat.log')
  const children = []

  const wechat = spawn(py, ['-m', 'server.devtools.fake_wechat', '--port', '0'], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', fs.openSync(wechatLog, 'w')]
  })
  children.push(wechat)
  try {
    const wechatUrl = await firstLine(wechat, 'the fake WeChat server', 20000)
    const { template: made, owned } = template(py)
    // The database file and, if the commands left one, its write-ahead log (SQLite runs in WAL mode):
    // committed rows may still be only there. Nothing has the template open, so it is consistent.
    for (const name of ['e2e.db', 'e2e.db-wal']) {
      const from = path.join(made.folder, name)
      if (fs.existsSync(from)) fs.copyFileSync(from, path.join(tmp, name))
    }
    if (owned) fs.rmSync(made.folder, { recursive: true, force: true })
    const env = serverEnv(tmp, made.secretKey, wechatUrl)
    const port = await freePort()
    const out = fs.openSync(logFile, 'w')
    const flask = spawn(
      py,
      [
        '-m',
        'flask',
        '--app',
        'server',
        'run',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--no-reload',
        '--no-debugger'
      ],
      { cwd: REPO, env, stdio: ['ignore', out, out] }
    )
    children.push(flask)
    const origin = `http://127.0.0.1:${port}`
    await waitHealthy(`${origin}/healthz`, flask, logFile, 30000)
    return {
      origin,
      apiBase: `${origin}/api/v1`,
      wechatUrl,
      tmp,
      logFile,
      py,
      adminPassword: made.adminPassword,
      stop: async () => {
        await Promise.all(children.map(stop))
        fs.rmSync(tmp, { recursive: true, force: true })
      }
    }
  } catch (e) {
    await Promise.all(children.map(stop))
    throw e
  }
}

/** Phone-like JPEGs made by the server's own test helper (distinct seeds, EXIF with GPS and time). */
function makeJpegs(py, dir, count, gps) {
  fs.mkdirSync(dir, { recursive: true })
  const code = [
    'import sys, datetime',
    'from tests.support.images import phone_jpeg',
    'out, n, lat, lng = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])',
    'now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).replace(tzinfo=None, microsecond=0)',
    'for i in range(n):',
    '    open(f"{out}/camera-{i}.jpg", "wb").write(phone_jpeg(size=(1600, 1200), seed=100 + i, gps=(lat, lng), taken=now))'
  ].join('\n')
  run(py, ['-c', code, dir, String(count), String(gps[0]), String(gps[1])], process.env)
  return Array.from({ length: count }, (_, i) => path.join(dir, `camera-${i}.jpg`))
}

/** One JSON call to the real API; the parsed answer, or an Error naming the call when the status is not `expected` (201). */
async function callApi(apiBase, method, pathName, body, token, expected) {
  const headers = {}
  let data
  if (body !== undefined) {
    data = Buffer.from(JSON.stringify(body))
    headers['content-type'] = 'application/json'
    headers['content-length'] = data.length
  }
  if (token) headers.authorization = `Bearer ${token}`
  const res = await send(`${apiBase}${pathName}`, { method, headers, body: data })
  const text = res.body.toString('utf8')
  if (res.statusCode !== (expected || 201))
    throw new Error(`${method} ${pathName} → ${res.statusCode} ${text}`)
  return text ? JSON.parse(text) : null
}

/** The department's first steps in every end-to-end test: the admin's token, a township and a
 * village registered at `point` (WGS-84) with a 500 m fence. */
async function registerVillage(servers, { townshipName, villageName, point }) {
  const call = (method, pathName, body, token, expected) =>
    callApi(servers.apiBase, method, pathName, body, token, expected)
  const admin = (
    await call(
      'POST',
      '/auth/login',
      { username: 'admin', password: servers.adminPassword },
      null,
      200
    )
  ).token
  const township = await call(
    'POST',
    '/admin/townships',
    { code: '360821100000', name: townshipName },
    admin
  )
  const village = await call(
    'POST',
    '/admin/villages',
    {
      township_id: township.id,
      code: '360821100201',
      name: villageName,
      lat: point.lat,
      lng: point.lng,
      radius_m: 500
    },
    admin
  )
  return { admin, township, village }
}

/** registerVillage, then a project at the village and an inspector invited to bind a phone. */
async function registerProjectAndInspector(servers, point) {
  const { admin, village } = await registerVillage(servers, {
    townshipName: '固江镇',
    villageName: '固江村',
    point
  })
  const call = (method, pathName, body) => callApi(servers.apiBase, method, pathName, body, admin)
  const project = await call('POST', '/admin/projects', {
    title: '村级光伏电站建设',
    year: 2026,
    domain: '农村',
    village_ids: [village.id]
  })
  const inspector = await call('POST', '/admin/users', {
    name: '王督查',
    role: 'inspector',
    issue_invite: true
  })
  return { admin, village, project, inspector }
}

module.exports = {
  TEMPLATE_ENV,
  python,
  makeTemplate,
  startServers,
  makeJpegs,
  callApi,
  registerVillage,
  registerProjectAndInspector,
  REPO
}

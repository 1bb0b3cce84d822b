// Once per jest run, before any end-to-end file: the migrated database with its admin account that
// every file's server starts from (servers.js makeTemplate). Its description goes in a file named
// by an environment variable, which the test workers inherit. If it cannot be made (no venv, a
// failing migration), only the end-to-end files must fail, not the whole run: each then tries to
// make its own and reports why it cannot.
const fs = require('fs')
const path = require('path')
const { TEMPLATE_ENV, python, makeTemplate } = require('./servers')

module.exports = async function globalSetup() {
  let made
  try {
    made = makeTemplate(python())
  } catch (e) {
    console.warn(`end-to-end tests: no shared database template (${e.message.split('\n')[0]})`)
    return
  }
  const file = path.join(made.folder, 'template.json')
  fs.writeFileSync(file, JSON.stringify(made))
  process.env[TEMPLATE_ENV] = file
}

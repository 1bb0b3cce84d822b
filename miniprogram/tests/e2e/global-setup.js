// Once per jest run, before any end-to-end file: the migrated database with its admin account that
// every file's server starts from (servers.js makeTemplate). Its description goes in a file named
// by an environment variable, which the test workers inherit.
const fs = require('fs')
const path = require('path')
const { TEMPLATE_ENV, python, makeTemplate } = require('./servers')

module.exports = async function globalSetup() {
  const made = makeTemplate(python())
  const file = path.join(made.folder, 'template.json')
  fs.writeFileSync(file, JSON.stringify(made))
  process.env[TEMPLATE_ENV] = file
}

// After the end-to-end files: remove the template global-setup.js made.
const fs = require('fs')
const path = require('path')
const { TEMPLATE_ENV } = require('./servers')

module.exports = async function globalTeardown() {
  const file = process.env[TEMPLATE_ENV]
  if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true })
}

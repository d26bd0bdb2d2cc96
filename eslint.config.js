import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'public/**', 'example/public/javascript/**', 'coverage/**'] })
]

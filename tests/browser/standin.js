/* A stand-in for the part of TheHive that shows an analyzer report (fact sheet
 * shared/specs/thehive-report-templates.md): the `report` directive, which compiles the long
 * template inside an isolate scope holding exactly name, artifact, status, content and success,
 * and the TheHive filters the socflow templates use. Written from the documented behaviour, not
 * copied. The test sets window.__CASE__ = {template, name, artifact, output} before the page loads.
 */
(function () {
  'use strict';
  window.__ERRORS__ = [];
  var app = angular.module('socflowReportStandin', ['ngSanitize', 'ui.bootstrap', 'angularMoment']);

  app.config(['$provide', function ($provide) {
    $provide.decorator('$exceptionHandler', ['$delegate', function ($delegate) {
      return function (exception, cause) {
        window.__ERRORS__.push(String(exception && exception.message || exception));
        $delegate(exception, cause);
      };
    }]);
  }]);

  // TheHive: content = report.content.full || report.content; success = report.content.success
  app.controller('ReportCtrl', ['$scope', function ($scope) {
    var c = window.__CASE__ || {};
    var output = c.output || {};
    $scope.r = {
      name: c.name,
      artifact: c.artifact,
      status: output.success ? 'Success' : 'Failure',
      content: output.full || output,
      success: output.success
    };
  }]);

  app.directive('report', ['$compile', '$timeout', function ($compile, $timeout) {
    return {
      restrict: 'E',
      scope: { name: '=', artifact: '=', status: '=', content: '=', success: '=' },
      link: function (scope, element) {
        element.html((window.__CASE__ || {}).template || '');
        $compile(element.contents())(scope);
        $timeout(function () { window.__RENDERED__ = true; }, 0);
      }
    };
  }]);

  // fang: despite its name it defangs (http -> hxxp, . -> [.]).
  app.filter('fang', function () {
    return function (value) {
      if (!value) { return ''; }
      return String(value).replace(/http/gi, 'hxxp').replace(/\./g, '[.]');
    };
  });

  app.filter('ellipsis', function () {
    return function (value, max, tail) {
      if (!value) { return ''; }
      max = parseInt(max, 10);
      if (!max || value.length <= max) { return value; }
      return value.substr(0, max) + (tail || '\u2026');
    };
  });

  // filesize: bytes to "n Bytes" / "n.nn KB|MB|GB|TB" (1024 steps).
  app.filter('filesize', function () {
    return function (size) {
      if (isNaN(size)) { size = 0; }
      if (size < 1024) { return size + ' Bytes'; }
      var units = ['KB', 'MB', 'GB', 'TB'];
      for (var i = 0; i < units.length; i++) {
        size /= 1024;
        if (size < 1024 || i === units.length - 1) { return size.toFixed(2) + ' ' + units[i]; }
      }
    };
  });
})();

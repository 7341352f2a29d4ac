package org.elasticsearch.node;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.cjk.CJKAnalyzer;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.index.analysis.AbstractIndexAnalyzerProvider;
import org.elasticsearch.index.analysis.AnalyzerProvider;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * One real Elasticsearch 8 node in this JVM, for tests and CI where there is no Docker.
 *
 * Usage: ClasspathNode HOME_DIR HTTP_PORT TRANSPORT_PORT; runs until SIGTERM, then closes the node.
 *
 * Why this shape: the test framework's MockNode needs a randomizedtesting runner context
 * (Randomness.get() fails outside one, and ESTestCase's static init refuses root), so this class
 * does what MockNode does without it: it lives in MockNode's package to reach the package-private
 * Node(NodeConstruction) constructor and NodeServiceProvider, and loads classpath plugins through
 * the framework's MockPluginsService (which needs no test context). The runtime classpath leaves
 * randomizedtesting out (see pom.xml). Netty4Plugin gives real HTTP. The analysis-common module is
 * not published, so CjkPlugin registers Lucene's CJKAnalyzer (the class analysis-common wraps) as
 * "cjk", letting the configurable analyzer be tested against a real "cjk" too.
 */
public final class ClasspathNode extends Node {

    /** Registers the "cjk" analyzer from lucene-analysis-common, as the analysis-common module does. */
    public static final class CjkPlugin extends Plugin implements AnalysisPlugin {
        @Override
        public Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> getAnalyzers() {
            return Map.of("cjk", (indexSettings, env, name, settings) ->
                new AbstractIndexAnalyzerProvider<CJKAnalyzer>(name, settings) {
                    private final CJKAnalyzer analyzer = new CJKAnalyzer();

                    @Override
                    public CJKAnalyzer get() {
                        return analyzer;
                    }
                });
        }
    }

    private ClasspathNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(NodeConstruction.prepareConstruction(environment, null, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader loader) {
                return new MockPluginsService(env.settings(), env, plugins);
            }
        }, false));
    }

    static Settings nodeSettings(Path home, String httpPort, String transportPort) {
        return Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "juanzong-test")
            .put("node.name", "juanzong-node-0")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("http.type", Netty4Plugin.NETTY_HTTP_TRANSPORT_NAME)
            .put("transport.type", Netty4Plugin.NETTY_TRANSPORT_NAME)
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.auto_create_index", false)
            .build();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: ClasspathNode HOME_DIR HTTP_PORT TRANSPORT_PORT");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));
        Files.createDirectories(home.resolve("config"));
        Settings settings = nodeSettings(home, args[1], args[2]);
        LogConfigurator.configureWithoutConfig(settings);
        LogConfigurator.configureESLogging();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Map.of(), home.resolve("config"), () -> "juanzong-node-0");
        Node node = new ClasspathNode(environment, List.of(Netty4Plugin.class, CjkPlugin.class));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "juanzong-es-shutdown"));
        node.start();
        System.out.println("juanzong-es: started on http://127.0.0.1:" + args[1]);
        stopped.await();
    }
}
